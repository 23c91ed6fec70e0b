"""The index page's start form without a browser: what a form asks for becomes the flags of
``fraudlab run``, a field that cannot be sent is one sentence, the page offers what the server
knows, every value escaped."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudlab.errors import UsageError
from fraudlab.settings import REPO_ROOT, load_settings
from lab.serve_command import start_choices
from viz.index_page import index_html
from viz.run_start import ScenarioChoice, StartChoices, form_request, start_form_html

CHOICES = StartChoices(
    (
        ScenarioChoice("baseline", "normal traffic", (), 7, 60.0),
        ScenarioChoice("card-testing-burst", "a burst", ("card_testing",), 11, 60.0),
    ),
    ("default", "tiny"),
    (Path("rules/card-testing.toml"), Path("rules/high-value.toml")),
)


def _flags(fields: dict[str, str]) -> list[str]:
    return form_request(fields, CHOICES, "r1").arguments()


def test_a_paced_scenario_run_with_a_challenger_and_rules() -> None:
    fields = {
        "scenario": "card-testing-burst",
        "seed": "3",
        "minutes": "10",
        "speed": "20",
        "model": "tiny",
        "challenger": "default",
        "rules": "card-testing.toml,high-value.toml",
    }
    assert _flags(fields) == [
        "run", "card-testing-burst", "--run-id", "r1", "--seed", "3", "--minutes", "10",
        "--speed", "20", "--model", "tiny", "--challenger", "default",
        "--rules", "rules/card-testing.toml", "--rules", "rules/high-value.toml",
    ]  # fmt: skip


def test_fast_and_the_scenario_s_own_seed_and_minutes() -> None:
    assert _flags({"scenario": "baseline", "fast": "on", "speed": "20"}) == [
        "run", "baseline", "--run-id", "r1", "--fast",
    ]  # fmt: skip


def test_a_csv_folder_goes_at_its_batches_pace_or_fast() -> None:
    assert _flags({"csv": "/data/class", "speed": "20"}) == [
        "run", "--csv", "/data/class", "--run-id", "r1",
    ]  # fmt: skip
    assert _flags({"csv": "/data/class", "fast": "on"})[-1] == "--fast"


@pytest.mark.parametrize(
    ("fields", "sentence"),
    [
        ({}, "pick a scenario, or name a CSV folder to stream."),
        ({"scenario": "baseline", "csv": "d"}, "pick a scenario or name a CSV folder, not both"),
        ({"scenario": "nope", "speed": "1"}, "there is no scenario named 'nope'"),
        ({"scenario": "baseline", "speed": "1", "seed": "-1"}, "the seed is a whole number"),
        ({"scenario": "baseline", "speed": "fast"}, "the speed is a number, not 'fast'."),
        ({"scenario": "baseline", "speed": "0"}, "the speed is a number above 0"),
        ({"scenario": "baseline", "speed": ""}, "give a speed"),
        ({"scenario": "baseline", "speed": "nan"}, "the speed is a number above 0"),
        ({"scenario": "baseline", "speed": "1e9"}, "a speed is at most 10,000."),
        ({"scenario": "baseline", "speed": "1", "minutes": "1e6"}, "at most 1440 simulated"),
        ({"csv": "d", "minutes": "5"}, "the minutes are a scenario's"),
        ({"csv": "a\nb"}, "the CSV folder is a path"),
        ({"scenario": "baseline", "speed": "1", "model": "x"}, "no saved model named 'x'"),
        (
            {"scenario": "baseline", "speed": "1", "challenger": "default"},
            "the challenger is the run's model itself",
        ),
        ({"scenario": "baseline", "speed": "1", "rules": "../etc"}, "no rule file named"),
    ],
)
def test_a_field_that_cannot_be_sent_is_one_sentence(fields: dict[str, str], sentence: str) -> None:
    with pytest.raises(UsageError) as refused:
        form_request(fields, CHOICES, "r1")
    assert sentence in str(refused.value)
    assert str(refused.value).count(". ") == 0 and str(refused.value).endswith(".")


def test_the_form_shows_each_scenario_with_its_patterns_and_keeps_what_was_sent() -> None:
    page = start_form_html(CHOICES, {"seed": "5", "csv": "<x>"}, "the seed is <bad>.")
    assert "card-testing-burst: a burst (card testing)" in page
    assert "baseline: normal traffic (no fraud)" in page
    assert 'value="5"' in page and "&lt;x&gt;" in page and "<x>" not in page
    assert "the seed is &lt;bad&gt;." in page
    assert page.count('type="checkbox" name="rules"') == 2


def test_the_index_page_has_the_form_only_when_it_is_given() -> None:
    assert 'id="start_form"' not in index_html([], [], "a")
    assert 'id="start_form"' in index_html([], [], "a", start_form_html(CHOICES))


def test_the_server_offers_the_project_s_scenarios_models_and_rule_files(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    for name in ("baseline", "card-testing-burst"):
        (scenarios / f"{name}.toml").write_text(
            (REPO_ROOT / "scenarios" / f"{name}.toml").read_text()
        )
    (scenarios / "broken.toml").write_text("name = 'broken'\nminutes = 'x'\n")
    settings = load_settings(models_dir=tmp_path / "models", scenarios_dir=scenarios)
    choices = start_choices(settings)
    assert [s.name for s in choices.scenarios] == ["baseline", "card-testing-burst"]
    burst = choices.scenarios[1]
    assert "card_testing" in burst.patterns and burst.description
    assert choices.models == ()
    assert {p.name for p in choices.rule_files} >= {"card-testing.toml", "high-value.toml"}


def test_a_run_from_the_page_is_named_by_its_scenario_and_the_seed_it_will_have() -> None:
    own = form_request({"scenario": "card-testing-burst", "speed": "1"}, CHOICES)
    assert own.run_id.startswith("card-testing-burst-s11-") and own.seed is None
    given = form_request({"scenario": "baseline", "speed": "1", "seed": "3"}, CHOICES)
    assert given.run_id.startswith("baseline-s3-")
    assert form_request({"csv": "d"}, CHOICES).run_id.startswith("csv-s0-")
