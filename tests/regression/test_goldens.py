"""The golden file and the differences the regression suite tells (pure: no broker, no Spark)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudlab.errors import UsageError
from lab.regression_goldens import (
    CHUNK_MESSAGES,
    EventDigest,
    Goldens,
    ModelFingerprint,
    ScenarioDigests,
    alert_digest,
    first_differing_chunk,
    model_changes,
    model_failure,
    parse_goldens,
    read_goldens,
    scenario_changes,
    scenario_failures,
    write_goldens,
)
from lab.regression_suite import ScenarioOutcome, SuiteOutcome

T0 = 1_767_571_200  # 2026-01-05T00:00:00Z


def _digests(
    name: str = "card-testing-burst",
    chunks: tuple[str, ...] = ("aaa", "bbb", "ccc"),
    transactions: int = 40,
    pairs: tuple[tuple[int, str], ...] = ((T0, "t-1"), (T0 + 10, "t-1"), (T0 + 10, "t-2")),
    seed: int = 11,
    minutes: float = 7.0,
) -> ScenarioDigests:
    events = EventDigest(
        digest="e" * 63 + str(len(chunks) + transactions),
        streams={"browsing": 150, "transactions": transactions},
        chunks=chunks,
    )
    return ScenarioDigests(name, seed, minutes, 1000, events, alert_digest(pairs))


MODEL = ModelFingerprint({"scenario": "baseline", "seed": 7}, "random_forest", 0.16, "f" * 64)


def test_a_golden_file_reads_back_as_written(tmp_path: Path) -> None:
    goldens = Goldens(MODEL, {"b": _digests("b"), "a": _digests("a", transactions=3)})
    path = tmp_path / "regression" / "goldens.json"
    write_goldens(path, goldens, "about these goldens")
    assert read_goldens(path) == goldens
    text = path.read_text()
    assert text.index('"a"') < text.index('"b"'), "scenarios are written by name"
    assert f'"{T0 + 10} t-2"' in text, "one alert pair per line, readable in a diff"
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_missing_or_broken_golden_file_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no golden file at .*fraudlab regress --update"):
        read_goldens(tmp_path / "goldens.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": 1, "scenarios": {"x": {"seed": 1}}}')
    with pytest.raises(UsageError, match=r"broken.json is not readable \(KeyError"):
        read_goldens(broken)
    with pytest.raises(ValueError, match="format"):
        parse_goldens('{"format": 99, "scenarios": {}}')


def test_the_same_digests_do_not_fail() -> None:
    assert scenario_failures(_digests(), _digests()) == []
    assert model_failure(MODEL, MODEL) is None
    assert scenario_changes(_digests(), _digests()) == "card-testing-burst: unchanged"
    assert model_changes(MODEL, MODEL) == "model: unchanged"


def test_alert_pairs_are_a_set_in_order() -> None:
    a = alert_digest([(T0 + 10, "t-2"), (T0, "t-1"), (T0, "t-1")])
    b = alert_digest([(T0, "t-1"), (T0 + 10, "t-2")])
    assert a == b and a.count == 2
    assert alert_digest([(T0, "t-1")]).digest != a.digest


def test_a_changed_event_stream_names_the_scenario_counts_and_first_chunk() -> None:
    now = _digests(chunks=("aaa", "xxx", "yyy"), transactions=44)
    shown: list[int] = []

    def chunk_lines(i: int) -> list[str]:
        shown.append(i)
        return [f"record {n}" for n in range(10)]

    [failure] = scenario_failures(_digests(), now, chunk_lines)
    lines = failure.splitlines()
    assert lines[0].startswith("card-testing-burst: the event stream differs from the golden")
    assert "transactions 40 -> 44" in lines[0] and "browsing" not in lines[0]
    first = CHUNK_MESSAGES
    assert f"within messages {first:,}-{2 * CHUNK_MESSAGES - 1:,} (chunk 1 of 3)" in lines[1]
    assert shown == [1]
    assert lines[2:] == [f"    record {n}" for n in range(6)], "a short diff: the first records"


def test_a_changed_alert_set_shows_the_first_pairs_that_differ() -> None:
    now = _digests(pairs=((T0, "t-1"), (T0 + 10, "t-2"), (T0 + 20, "t-3"), (T0 + 30, "t-3")))
    [failure] = scenario_failures(_digests(), now)
    assert failure.splitlines() == [
        "card-testing-burst: the alert set differs from the golden: 3 (window, transaction) "
        "pairs golden, 4 now (2 added, 1 removed); first differences:",
        "  - 2026-01-05T00:00:10Z  t-1",
        "  + 2026-01-05T00:00:20Z  t-3",
        "  + 2026-01-05T00:00:30Z  t-3",
    ]


def test_both_digests_fail_separately() -> None:
    now = _digests(chunks=("aaa", "bbb", "ccc", "ddd"), pairs=((T0, "t-9"),))
    failures = scenario_failures(_digests(), now)
    assert [f.split(":")[1].strip() for f in failures] == [
        "the event stream differs from the golden (digest eeeeeeeeeeee… now eeeeeeeeeeee…)",
        "the alert set differs from the golden",
    ]
    assert "chunk 3 of 4" in failures[0], "a longer stream differs where the golden ends"


def test_another_seed_or_horizon_asks_for_an_update() -> None:
    [failure] = scenario_failures(_digests(), _digests(minutes=8.0))
    assert failure.startswith(
        "card-testing-burst: the golden is of seed 11, 7 minutes, 1,000 customers, the suite ran "
        "seed 11, 8 minutes, 1,000 customers;"
    )
    assert "fraudlab regress --update" in failure


def test_a_changed_model_is_reported_as_the_model() -> None:
    other = ModelFingerprint(MODEL.recipe, MODEL.kind, 0.2, "0" * 64)
    assert "the regression model differs" in (model_failure(MODEL, other) or "")
    assert "rather than a scenario" in (model_failure(MODEL, other) or "")
    retrained = ModelFingerprint({"scenario": "history"}, MODEL.kind, 0.2, "0" * 64)
    assert "is trained as" in (model_failure(MODEL, retrained) or "")
    assert "pin no model" in (model_failure(None, MODEL) or "")
    assert model_changes(MODEL, other).startswith("model: changed (fingerprint ffffffffffff…")


def test_update_lines_say_what_changed() -> None:
    assert scenario_changes(None, _digests()) == (
        "card-testing-burst: new (190 messages, 3 alert pairs)"
    )
    now = _digests(transactions=41, pairs=((T0, "t-1"),))
    assert scenario_changes(_digests(), now) == (
        "card-testing-burst: events changed (transactions 40 -> 41); "
        "alerts changed (3 -> 1 pairs: 0 added, 2 removed)"
    )


def test_first_differing_chunk() -> None:
    assert first_differing_chunk([], []) is None
    assert first_differing_chunk(["a", "b"], ["a"]) == 1
    assert first_differing_chunk(["x"], ["y", "z"]) == 0


def test_an_update_of_some_scenarios_keeps_the_others_and_drops_orphans() -> None:
    kept = Goldens(MODEL, {"a": _digests("a"), "b": _digests("b"), "gone": _digests("gone")})
    newer = _digests("b", transactions=41)
    outcome = SuiteOutcome(MODEL, scenarios=[ScenarioOutcome(newer, [], 1.0)], orphans=["gone"])
    assert outcome.as_goldens(kept) == Goldens(MODEL, {"a": _digests("a"), "b": newer})
    assert outcome.failed == ["gone"]
    assert outcome.failure_text().startswith("gone: the goldens hold it but there is no such")
