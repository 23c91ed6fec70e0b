"""The rules of a run as the live view shows them: which are in force at the engine's event time,
which are scheduled, which were disabled, and how many alerts each has raised.

No Kafka and no Bokeh here: the run's rule changes (its ``rules`` topic, records
:class:`fraudlab.records.RuleChangeRecord`) and the alerts' reasons come in as lists. A change
takes effect at its effective event time, never on arrival (as in the engine, see
``rulebook/rules.py``), so the rules in force are those whose latest change at or before the
engine's event time is an addition.

>>> add = RuleChangeRecord("add", "burst", 100, '{"id": "burst", "action": "flag", '
...     '"description": "3 failed payments", "condition": "failed_payments >= 3.0"}', 100)
>>> off = RuleChangeRecord("disable", "burst", 500, None, 500)
>>> [(r.rule_id, r.state) for r in rule_lines([add, off], at=300)]
[('burst', 'in force')]
>>> [(r.rule_id, r.state) for r in rule_lines([add, off], at=600)]
[('burst', 'disabled')]
>>> [(r.rule_id, r.state) for r in rule_lines([add], at=50)]
[('burst', 'scheduled')]
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from fraudlab.records import RuleChangeRecord

__all__ = ["MODEL", "RuleLine", "rule_lines", "rules_html"]

MODEL = "model"  # the reason of an alert the model raised (rulebook/rules.py)


@dataclass(frozen=True)
class RuleLine:
    """One rule of a run as it stands at an event time: ``in force``, ``scheduled`` (its
    addition is later) or ``disabled``; ``since`` is the event time of the change that put it
    so (Unix seconds)."""

    rule_id: str
    state: str
    since: int
    action: str
    description: str
    condition: str


def rule_lines(changes: Sequence[RuleChangeRecord], at: int | None) -> list[RuleLine]:
    """Each rule the changes name, in the order first named, as it stands at event time ``at``
    (None: before any event, so every change is still to come)."""
    order: list[str] = []
    by_rule: dict[str, list[RuleChangeRecord]] = {}
    for change in changes:
        if change.rule_id not in by_rule:
            order.append(change.rule_id)
        by_rule.setdefault(change.rule_id, []).append(change)
    lines = []
    for rule_id in order:
        # by effective time, and in log order at the same time: the later one wins, as in
        # the engine's rule book
        ordered = sorted(by_rule[rule_id], key=lambda c: c.effective)
        past = [c for c in ordered if at is not None and c.effective <= at]
        latest = past[-1] if past else None
        if latest is not None and latest.kind == "add":
            shown, state = latest, "in force"
        elif latest is not None:
            shown, state = latest, "disabled"
        else:
            shown, state = ordered[0], "scheduled"
        added = next((c for c in reversed(past or ordered) if c.kind == "add"), None)
        rule = _rule_fields(added.rule if added is not None else None)
        lines.append(
            RuleLine(
                rule_id,
                state,
                shown.effective,
                _action(rule),
                str(rule.get("description", "")),
                str(rule.get("condition", "")),
            )
        )
    return lines


def _rule_fields(text: str | None) -> dict[str, object]:
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _action(rule: dict[str, object]) -> str:
    action = str(rule.get("action", "flag"))
    score = rule.get("score")
    return f"raise to {score}" if action == "raise" and score is not None else action


def _clock(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def rules_html(lines: Sequence[RuleLine], alerts: Counter[str], at: int | None = None) -> str:
    """The rules table of the live view at the engine's event time ``at``: the model first,
    then each rule, with the alerts each has raised so far (an alert counts once for every
    reason it has); values escaped.

    >>> text = rules_html([], Counter({"model": 4}))
    >>> "<td>model</td>" in text and "<td>4</td>" in text and "no rules" in text
    True
    """
    when = f" at the engine's event time {_clock(at)}" if at is not None else ""
    title = f'<p class="title"><b>Rules beside the model</b>{when}</p>'
    rows = [
        "<tr><th>rule</th><th>state (event time)</th><th>action</th><th>alerts</th>"
        "<th>condition</th></tr>",
        f"<tr><td>{MODEL}</td><td>in force</td><td>flag at its threshold</td>"
        f"<td>{alerts[MODEL]:,}</td><td></td></tr>",
    ]
    for line in lines:
        state = {"in force": "in force since", "scheduled": "from", "disabled": "disabled at"}
        rows.append(
            f'<tr class="{line.state.replace(" ", "-")}" title="{html.escape(line.description)}">'
            f"<td>{html.escape(line.rule_id)}</td>"
            f"<td>{state[line.state]} {_clock(line.since)}</td>"
            f"<td>{html.escape(line.action)}</td><td>{alerts[line.rule_id]:,}</td>"
            f"<td><code>{html.escape(line.condition)}</code></td></tr>"
        )
    note = "" if lines else '<p class="note">no rules: the model alone decides.</p>'
    return f'{title}<table class="rules">{"".join(rows)}</table>{note}'
