"""The index page's start form: a run started from the browser, as ``fraudlab run`` starts it.

The form picks a scenario (each shown with its one-line description and its fraud patterns) or
names a CSV folder, and sets the seed, the simulated minutes, the speed (or as fast as it
goes), the model, a challenger and rule files. Starting it launches ``fraudlab run`` with those
flags (:func:`fraudlab.run_launch.launch_run`): the same command, the same run plan and the
same checks as at a terminal, in a process that outlives the page. The browser then opens
/live on the new run, where it is paused, re-paced and stopped (:mod:`viz.run_controls`).

What can be picked comes from the server's :class:`StartChoices` (``fraudlab serve`` reads the
scenarios and the saved models, which the views do not import). The form is offered only when
the server is bound to loopback, and a start is taken only from a page of an allowed origin.

>>> choices = StartChoices((ScenarioChoice("baseline", "normal traffic", (), 7, 60.0),),
...                        ("default",), ())
>>> form_request({"scenario": "baseline", "seed": "7", "minutes": "5", "speed": "20"},
...              choices, "r1")
RunRequest(run_id='r1', scenario='baseline', csv_folder=None, seed=7, minutes=5.0, \
speed=20.0, fast=False, model=None, challenger=None, rule_files=())
>>> form_request({"scenario": "nope"}, choices, "r1")
Traceback (most recent call last):
...
fraudlab.errors.UsageError: there is no scenario named 'nope': pick one from the list.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fraudlab.errors import UsageError
from fraudlab.run_launch import RunRequest
from fraudlab.runs import new_run_id

__all__ = [
    "FORM_FIELDS",
    "FORM_STYLE",
    "ScenarioChoice",
    "StartChoices",
    "form_request",
    "start_form_html",
]

FORM_FIELDS = (
    "scenario",
    "csv",
    "seed",
    "minutes",
    "speed",
    "fast",
    "model",
    "challenger",
    "rules",
)

MAX_MINUTES = 24 * 60.0
MAX_SEED = 2**31 - 1
MAX_SPEED = 10_000.0


@dataclass(frozen=True)
class ScenarioChoice:
    """A scenario as the form offers it: name, one-line description, fraud patterns, and the
    seed and simulated minutes it runs with by default."""

    name: str
    description: str
    patterns: tuple[str, ...]
    seed: int
    minutes: float

    @property
    def label(self) -> str:
        patterns = ", ".join(p.replace("_", " ") for p in self.patterns) or "no fraud"
        return f"{self.name}: {self.description} ({patterns})"


@dataclass(frozen=True)
class StartChoices:
    """What the form offers: the scenarios, the saved models, the example rule files."""

    scenarios: tuple[ScenarioChoice, ...]
    models: tuple[str, ...]
    rule_files: tuple[Path, ...]


def _number(fields: Mapping[str, str], name: str, what: str) -> float | None:
    text = fields.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"the {what} is a number, not {text[:40]!r}.") from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"the {what} is a number above 0, not {text[:40]!r}.")
    return value


def form_request(
    fields: Mapping[str, str], choices: StartChoices, run_id: str | None = None
) -> RunRequest:
    """The run the form's ``fields`` ask for, as run ``run_id`` (None: a new id from the
    scenario, or ``csv``, and the seed the run will have); a UsageError, in one sentence, for a
    field that cannot be sent (checked again by ``fraudlab run`` itself)."""
    scenario = fields.get("scenario", "").strip()
    folder = fields.get("csv", "").strip()
    if scenario and folder:
        raise UsageError("pick a scenario or name a CSV folder, not both: a run plays one.")
    if not scenario and not folder:
        raise UsageError("pick a scenario, or name a CSV folder to stream.")
    if scenario and scenario not in {s.name for s in choices.scenarios}:
        raise UsageError(f"there is no scenario named {scenario[:60]!r}: pick one from the list.")
    if any(ord(c) < 32 for c in folder) or len(folder) > 1000:
        raise UsageError("the CSV folder is a path on the server's machine, on one line.")
    seed_text = fields.get("seed", "").strip()
    if seed_text and not (seed_text.isdigit() and int(seed_text) <= MAX_SEED):
        raise UsageError(
            f"the seed is a whole number from 0 to {MAX_SEED}, not {seed_text[:40]!r}."
        )
    minutes = _number(fields, "minutes", "number of simulated minutes")
    if minutes is not None and minutes > MAX_MINUTES:
        raise UsageError(f"a run from the page is at most {MAX_MINUTES:g} simulated minutes.")
    fast = fields.get("fast", "") in ("on", "1", "true")
    speed = None if fast or folder else _number(fields, "speed", "speed")
    if not fast and not folder and speed is None:
        raise UsageError("give a speed (20 is twenty times real time) or tick as fast as it goes.")
    if speed is not None and speed > MAX_SPEED:
        raise UsageError(f"a speed is at most {MAX_SPEED:,.0f}.")
    if folder and minutes is not None:
        raise UsageError("the minutes are a scenario's: a CSV run streams its whole folder.")
    model = fields.get("model", "").strip() or None
    challenger = fields.get("challenger", "").strip() or None
    for name in (model, challenger):
        if name is not None and name not in choices.models:
            raise UsageError(
                f"there is no saved model named {name[:60]!r}: pick one from the list."
            )
    if challenger is not None and challenger == (model or "default"):
        raise UsageError("the challenger is the run's model itself: pick another saved model.")
    seed = int(seed_text) if seed_text else None
    if run_id is None:
        own_seed = next((s.seed for s in choices.scenarios if s.name == scenario), 0)
        run_id = new_run_id(scenario or "csv", own_seed if seed is None else seed)
    by_name = {p.name: p for p in choices.rule_files}
    rules = [r for r in fields.get("rules", "").split(",") if r]
    unknown = [r for r in rules if r not in by_name]
    if unknown:
        raise UsageError(f"there is no rule file named {unknown[0][:60]!r}: pick from the list.")
    return RunRequest(
        run_id,
        scenario=scenario or None,
        csv_folder=Path(folder) if folder else None,
        seed=seed,
        minutes=minutes,
        speed=speed,
        fast=fast,
        model=model,
        challenger=challenger,
        rule_files=tuple(by_name[r] for r in rules),
    )


FORM_STYLE = """
form.start { border: 1px solid #ddd; padding: 10px 14px; max-width: 980px; }
form.start label { display: inline-block; margin: 4px 14px 4px 0; font-size: 14px; }
form.start select, form.start input[type=text], form.start input[type=number] { font-size: 14px; }
form.start .wide { width: 640px; }
p.refused { color: #a61b1b; }
"""


def _options(values: Sequence[tuple[str, str]], chosen: str) -> str:
    return "".join(
        f'<option value="{html.escape(v)}"{" selected" if v == chosen else ""}>'
        f"{html.escape(label)}</option>"
        for v, label in values
    )


def start_form_html(
    choices: StartChoices, values: Mapping[str, str] | None = None, problem: str | None = None
) -> str:
    """The start form (every value escaped), filled with ``values`` and the ``problem`` that
    kept them from starting, if any."""
    v = dict(values or {})
    first = choices.scenarios[0] if choices.scenarios else None
    scenario = v.get("scenario", first.name if first else "")
    scenarios = _options([(s.name, s.label) for s in choices.scenarios], scenario)
    models = _options(
        [("", "the champion (default)"), *((m, m) for m in choices.models)], v.get("model", "")
    )
    challengers = _options(
        [("", "none"), *((m, m) for m in choices.models)], v.get("challenger", "")
    )
    ticked = set(v.get("rules", "").split(","))
    rules = "".join(
        f'<label><input type="checkbox" name="rules" value="{html.escape(p.name)}"'
        f"{' checked' if p.name in ticked else ''}> {html.escape(p.name)}</label>"
        for p in choices.rule_files
    )
    fast = " checked" if v.get("fast") == "on" else ""
    said = f'<p class="refused" id="start_problem">{html.escape(problem)}</p>' if problem else ""
    return (
        '<form class="start" id="start_form" action="/start" method="post">'
        f'<label>scenario <select name="scenario" id="start_scenario" class="wide">'
        f'<option value="">(none: stream a CSV folder)</option>{scenarios}</select></label><br>'
        '<label>or CSV folder <input type="text" name="csv" id="start_csv" class="wide" '
        f'value="{html.escape(v.get("csv", ""))}" placeholder="a folder of the assignment\'s '
        'datasets, on this machine"></label><br>'
        '<label>seed <input type="number" min="0" name="seed" id="start_seed" '
        f'value="{html.escape(v.get("seed", ""))}" placeholder="the scenario\'s"></label>'
        '<label>minutes <input type="number" min="0" step="any" name="minutes" '
        f'id="start_minutes" value="{html.escape(v.get("minutes", ""))}" '
        'placeholder="the scenario\'s"></label>'
        '<label>speed <input type="number" min="0" step="any" name="speed" id="start_speed" '
        f'value="{html.escape(v.get("speed", "20"))}"> (a CSV folder goes at its batches\' '
        "pace)</label>"
        f'<label><input type="checkbox" name="fast" id="start_fast"{fast}> as fast as it goes'
        "</label><br>"
        f'<label>model <select name="model" id="start_model">{models}</select></label>'
        f'<label>challenger <select name="challenger" id="start_challenger">{challengers}'
        "</select></label><br>"
        f"{'rule files ' + rules + '<br>' if rules else ''}"
        '<button type="submit" id="start_run">start the run</button>'
        f"{said}</form>"
    )
