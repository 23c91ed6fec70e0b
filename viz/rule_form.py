"""The live view's rule form: add a rule to the run it follows, or disable one.

The form runs ``fraudlab rules add RUN FILE`` or ``fraudlab rules disable RUN ID``, the command
line itself in a process of its own, with the settings the views are served with: the same
code path as the CLI, which checks the rule (one sentence naming the field when it is refused)
and publishes the change to the run's rules topic. The form checks only what it must before
starting a process (a run is followed, the fields are there, short and free of control
characters) and shows the command's one sentence. It is offered only when the views are served on
a loopback address: a browser on another machine never sees it.

>>> rule_document({"id": "burst", "description": "3 failed payments",
...     "condition": "failed_payments >= 3.0", "action": "raise", "score": "0.95"})
{'rules': [{'id': 'burst', 'description': '3 failed payments', \
'condition': 'failed_payments >= 3.0', 'action': 'raise', 'score': 0.95}]}
>>> form_problem({"id": "", "condition": "x"}, adding=True)
'give the rule an id.'
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from fraudlab.command_line import run_fraudlab
from fraudlab.settings import Settings

__all__ = ["add_rule", "disable_rule", "form_problem", "rule_document"]

MAX_FIELD = 500
MAX_CONDITION = 2000


def form_problem(fields: dict[str, str], *, adding: bool) -> str | None:
    """What keeps the form's fields from being sent, in one sentence, or None."""
    if not fields.get("id", "").strip():
        return "give the rule an id."
    if adding and not fields.get("condition", "").strip():
        return "give the rule a condition (CEL over the model's features)."
    for name, value in fields.items():
        limit = MAX_CONDITION if name == "condition" else MAX_FIELD
        if len(value) > limit:
            return f"the {name} is longer than {limit} characters."
        if any(ord(c) < 32 for c in value):
            return f"the {name} holds a control character."
    if adding and fields.get("action") == "raise":
        try:
            float(fields.get("score", ""))
        except ValueError:
            return "a raise rule needs a score, a number in (0, 1]."
    return None


def rule_document(fields: dict[str, str]) -> dict[str, Any]:
    """A rule file's content (JSON, as ``fraudlab rules add`` reads it) from the form's fields;
    an empty field is left out, so that the command says what is missing."""
    rule: dict[str, Any] = {}
    for name in ("id", "description", "condition", "action", "effective"):
        value = fields.get(name, "").strip()
        if value:
            rule[name] = value
    if rule.get("action") == "raise" and fields.get("score", "").strip():
        rule["score"] = float(fields["score"])
    return {"rules": [rule]}


def add_rule(settings: Settings, run_id: str, fields: dict[str, str]) -> tuple[bool, str]:
    """Add the form's rule to ``run_id`` through ``fraudlab rules add``."""
    problem = form_problem(fields, adding=True)
    if problem is not None:
        return False, problem
    with tempfile.TemporaryDirectory(prefix="fraudlab-rule-") as folder:
        path = Path(folder) / "rule.json"
        path.write_text(json.dumps(rule_document(fields)))
        ok, sentence = run_fraudlab(settings, "rules", "add", run_id, str(path))
    # the file is the form's: say so rather than name a temporary path
    return ok, sentence.replace(f"{path}: rule 1 ", "the form's rule ").replace(
        str(path), "the form"
    )


def disable_rule(settings: Settings, run_id: str, rule_id: str) -> tuple[bool, str]:
    """Disable ``rule_id`` on ``run_id`` through ``fraudlab rules disable``."""
    problem = form_problem({"id": rule_id}, adding=False)
    if problem is not None:
        return False, problem
    return run_fraudlab(settings, "rules", "disable", run_id, rule_id.strip())
