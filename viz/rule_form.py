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
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from fraudlab.settings import Settings, settings_toml

__all__ = ["add_rule", "disable_rule", "form_problem", "rule_document", "run_rules_command"]

MAX_FIELD = 500
MAX_CONDITION = 2000
COMMAND_TIMEOUT_S = 90.0
PREFIX = "fraudlab: "
USAGE_PREFIX = "Error: "  # how click says a usage error


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


def run_rules_command(settings: Settings, *args: str) -> tuple[bool, str]:
    """Run ``fraudlab rules ARGS...`` with ``settings``; whether it succeeded, and its sentence
    (its first line of output, or its one-sentence refusal)."""
    with tempfile.TemporaryDirectory(prefix="fraudlab-rule-form-") as folder:
        settings_file = Path(folder) / "settings.toml"
        settings_file.write_text(settings_toml(settings))
        argv = [sys.executable, "-m", "lab", "--settings", str(settings_file), "rules", *args]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            return False, f"fraudlab rules {args[0]} did not answer in {COMMAND_TIMEOUT_S:g} s."
    if done.returncode == 0:
        lines = done.stdout.strip().splitlines()
        return True, lines[0] if lines else "done."
    said = [
        line.removeprefix(PREFIX).removeprefix(USAGE_PREFIX)
        for line in done.stderr.splitlines()
        if line.startswith((PREFIX, USAGE_PREFIX))
    ]
    if said:
        return False, said[-1]
    return False, f"fraudlab rules {args[0]} exited with code {done.returncode}."


def add_rule(settings: Settings, run_id: str, fields: dict[str, str]) -> tuple[bool, str]:
    """Add the form's rule to ``run_id`` through ``fraudlab rules add``."""
    problem = form_problem(fields, adding=True)
    if problem is not None:
        return False, problem
    with tempfile.TemporaryDirectory(prefix="fraudlab-rule-") as folder:
        path = Path(folder) / "rule.json"
        path.write_text(json.dumps(rule_document(fields)))
        ok, sentence = run_rules_command(settings, "add", run_id, str(path))
    # the file is the form's: say so rather than name a temporary path
    return ok, sentence.replace(f"{path}: rule 1 ", "the form's rule ").replace(
        str(path), "the form"
    )


def disable_rule(settings: Settings, run_id: str, rule_id: str) -> tuple[bool, str]:
    """Disable ``rule_id`` on ``run_id`` through ``fraudlab rules disable``."""
    problem = form_problem({"id": rule_id}, adding=False)
    if problem is not None:
        return False, problem
    return run_rules_command(settings, "disable", run_id, rule_id.strip())
