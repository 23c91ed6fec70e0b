"""Champion and challenger side by side, on the hand-made run whose figures are worked out on
paper (tests/archive/hand_made_run.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hand_made_run import write_hand_made_run

from archive.challenger_quality import ALL, challenger_comparison
from archive.files import read_as_current


def _comparison(folder: Path, challenger: bool):  # type: ignore[no-untyped-def]
    path = write_hand_made_run(folder, challenger=challenger)
    con = duckdb.connect(str(path), read_only=True)
    read_as_current(con)
    try:
        return challenger_comparison(con)
    finally:
        con.close()


def test_a_run_without_a_challenger_has_no_comparison(tmp_path: Path) -> None:
    assert _comparison(tmp_path, challenger=False) is None


def test_each_pattern_sets_the_two_models_side_by_side(tmp_path: Path) -> None:
    comparison = _comparison(tmp_path, challenger=True)
    assert comparison is not None
    assert (comparison.champion_name, comparison.challenger_name) == ("m1", "m2")
    assert (comparison.champion_digest, comparison.challenger_digest) == ("d1", "d2")
    duels = {d.pattern: d for d in comparison.patterns}
    assert list(duels) == ["", "account_takeover", "card_testing", "flash_sale", ALL]

    testing = duels["card_testing"]
    assert (testing.transactions, testing.frauds) == (2, 2)
    assert (testing.champion.flagged, testing.champion.recall) == (1, 0.5)
    assert (testing.challenger.flagged, testing.challenger.recall) == (2, 1.0)
    # t1 0.9, a legitimate 0.6, then t2 tied with three legitimate at 0.1: 0.5 + 0.5 / 3
    assert testing.champion.average_precision == pytest.approx(2 / 3)
    assert testing.challenger.average_precision == 1.0
    assert (testing.alerts_gained, testing.frauds_gained) == (1, 1)  # t2
    assert (testing.alerts_lost, testing.frauds_lost) == (0, 0)
    assert testing.champion.seconds_to_flag == testing.challenger.seconds_to_flag == 0

    takeover = duels["account_takeover"]  # t7 was never scored: a miss for both, ranked last
    assert (takeover.champion.recall, takeover.challenger.recall) == (0.5, 0.0)
    assert takeover.challenger.precision is None  # it flagged none
    assert takeover.champion.average_precision == pytest.approx(0.5 + 0.5 / 3)
    # a legitimate 0.55 above t3's 0.3: 0.5 x 0.5 + 0.5 x 2/6
    assert takeover.challenger.average_precision == pytest.approx(0.25 + 1 / 6)
    assert (takeover.alerts_lost, takeover.frauds_lost) == (1, 1)  # t3
    assert (takeover.champion.seconds_to_flag, takeover.challenger.seconds_to_flag) == (0, None)

    legitimate = duels[""]
    assert legitimate.champion.average_precision is None  # no fraud to rank
    assert (legitimate.champion.precision, legitimate.challenger.precision) == (0.0, 0.0)
    assert (legitimate.alerts_gained, legitimate.frauds_gained) == (1, 0)  # t5
    assert (legitimate.alerts_lost, legitimate.frauds_lost) == (1, 0)  # t4

    overall = duels[ALL]  # t9 has no truth: outside every figure
    assert (overall.transactions, overall.frauds) == (8, 4)
    assert overall.champion.precision == overall.challenger.precision == pytest.approx(2 / 3)
    assert overall.champion.recall == overall.challenger.recall == 0.5
    assert overall.champion.average_precision == pytest.approx(0.5 + 0.25 * 3 / 7 + 0.25 * 0.5)
    assert overall.challenger.average_precision == pytest.approx(0.5 + 0.25 * 3 / 4 + 0.25 / 2)
    assert (overall.alerts_gained, overall.frauds_gained) == (2, 1)
    assert (overall.alerts_lost, overall.frauds_lost) == (2, 1)
