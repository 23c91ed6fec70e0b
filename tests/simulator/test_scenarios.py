"""Scenario files: the nine named ones load; a bad file gets one sentence and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from simulated_runs import NAMED_SCENARIOS, SCENARIOS

from fraudlab.errors import UsageError
from simulator.scenario import (
    Scenario,
    list_scenarios,
    load_scenario,
    parse_scenario,
    scenario_toml,
)

GOOD = """
name = "x"
description = "a test"
minutes = 5
seed = 1

[patterns.card_testing]
rate = 0.5
"""


def test_the_nine_named_scenarios_load_with_defaults_in_the_thousands() -> None:
    scenarios = list_scenarios(SCENARIOS)
    assert sorted(s.name for s in scenarios) == sorted(NAMED_SCENARIOS)
    for s in scenarios:
        assert s.path is not None and s.path.stem == s.name
        assert s.description.endswith(".") and s.minutes > 0
        assert s.world.customers >= 1000 and s.world.products >= 1000


def test_each_pattern_scenario_turns_its_pattern_up() -> None:
    by_name = {s.name: s for s in list_scenarios(SCENARIOS)}
    baseline = dict(by_name["baseline"].patterns.enabled())
    assert len(baseline) == 6
    loud = {
        "card-testing-burst": "card_testing",
        "account-takeover-wave": "account_takeover",
        "promo-abuse": "promo_abuse",
        "bot-swarm": "bot_checkout",
        "regional-fraud-ring": "regional_fraud_ring",
    }
    for scenario, pattern in loud.items():
        params = dict(by_name[scenario].patterns.enabled())[pattern]
        assert params.intensity.peak > 3 * baseline[pattern].intensity.peak
    assert by_name["flash-sale"].traffic.surges
    assert by_name["late-and-dirty"].faults.enabled
    assert by_name["history"].minutes >= 24 * 60


def test_a_name_or_a_path(tmp_path: Path) -> None:
    assert load_scenario("baseline", SCENARIOS).name == "baseline"
    assert load_scenario(str(SCENARIOS / "bot-swarm.toml"), tmp_path).name == "bot-swarm"
    (tmp_path / "x.toml").write_text(GOOD)
    assert load_scenario(str(tmp_path / "x.toml"), SCENARIOS).name == "x"
    assert load_scenario("x", tmp_path).text == GOOD


def test_the_resolved_scenario_reads_back_the_same() -> None:
    for s in list_scenarios(SCENARIOS):
        again = parse_scenario(scenario_toml(s), Path("resolved.toml"))
        assert again.model_dump() == s.model_dump()


def test_a_changed_scenario_announces_what_it_simulates(tmp_path: Path) -> None:
    """A run announces ``scenario.text`` and a resumed run is simulated from it: a scenario
    scaled down after loading (as the regression suite and the tests do) must not announce
    the file it came from."""
    (tmp_path / "x.toml").write_text(GOOD)
    loaded = load_scenario("x", tmp_path)
    assert loaded.text == GOOD  # unchanged: the file as written
    smaller = loaded.model_copy(update={"world": loaded.world.model_copy(update={"customers": 50})})
    announced = parse_scenario(smaller.text, Path("announced.toml"))
    assert announced.world.customers == 50
    assert announced.model_dump() == smaller.model_dump()


def test_models_are_frozen() -> None:
    s = load_scenario("baseline", SCENARIOS)
    with pytest.raises(ValueError):
        s.minutes = 3


BAD_FILES = {
    "syntax": ("name = 'x\n", "bad.toml: not valid TOML"),
    "unknown_pattern": (
        GOOD + "[patterns.card_cloning]\nrate = 1\n",
        "bad.toml: patterns.card_cloning: is not a known pattern",
    ),
    "negative_rate": (
        GOOD.replace("rate = 0.5", "rate = -1"),
        "bad.toml: patterns.card_testing.rate: must be >= 0.",
    ),
    "missing_field": (GOOD.replace("minutes = 5\n", ""), "bad.toml: minutes: is missing."),
    "unknown_key": (
        GOOD + "[faults]\nlateness = 0.1\n",
        "bad.toml: faults.lateness: is not a known field.",
    ),
    "wrong_type": (GOOD.replace("seed = 1", 'seed = "one"'), "bad.toml: seed: "),
    "bad_intensity": (
        GOOD + "[patterns.card_testing.intensity]\nkind = 'burst'\nlevel = 2\n",
        "bad.toml: patterns.card_testing.intensity.windows: is missing.",
    ),
    "unknown_city": (
        GOOD + "[patterns.regional_fraud_ring]\ncity = 'Atlantis'\n",
        "bad.toml: patterns.regional_fraud_ring.city: unknown city 'Atlantis'.",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_gets_one_sentence_naming_file_and_field(tmp_path: Path, case: str) -> None:
    text, expected = BAD_FILES[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_scenario(str(path), SCENARIOS)
    message = str(caught.value)
    assert expected in message
    assert message.endswith(".") and "\n" not in message and message.count(": ") <= 4
    assert caught.value.exit_code == 2


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown scenario 'nope'.*baseline"):
        load_scenario("nope", SCENARIOS)


@pytest.mark.parametrize(
    ("case", "command"),
    [("syntax", "scenarios"), ("negative_rate", "simulate"), ("unknown_key", "export")],
)
def test_the_cli_exits_2_with_one_line_and_no_traceback(
    tmp_path: Path, case: str, command: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD_FILES[case][0])
    extra = {"scenarios": [], "simulate": ["--digest"], "export": [str(tmp_path / "out")]}
    done = subprocess.run(
        [sys.executable, "-m", "lab.cli", command, str(path), *extra[command]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fraudlab: ") and "bad.toml" in lines[0]


def test_scenario_is_a_typed_model() -> None:
    assert Scenario.model_config.get("extra") == "forbid"
    assert Scenario.model_config.get("frozen") is True
