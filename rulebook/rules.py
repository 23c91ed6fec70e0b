"""Rules beside the model: declarative records, their conditions in CEL, in force by event time.

A fraud team keeps rules next to its model ("more than 3 failed payments in a day and a new
device") and changes them while traffic flows. A rule here is data:

- ``id`` (lower case letters, digits, ``-`` and ``_``) and ``description``;
- ``condition``: an expression of the Common Expression Language (CEL, the policy language of
  Kubernetes admission and Envoy), over the model's features (:data:`features.definition.FEATURES`:
  ``payment_method`` is a string, every other feature a double), evaluated by the
  ``common-expression-language`` library: no I/O, no side effects, always terminates;
- ``action``: ``flag`` (the transaction is a potential fraud whatever the model says) or
  ``raise`` (its probability is raised to at least ``score``, in (0, 1]);
- ``effective``: the event time from which the rule is in force (an ISO 8601 time with its
  offset, or Unix seconds; 0, the default, is "from the run's start").

Rule files are TOML or JSON with a list ``rules`` of such tables (``rules = []``: none, for
a replay without rules). A change (a rule added, or
disabled from an event time on) is a :class:`RuleChange`; a run's changes form a
:class:`RuleBook`, which answers which rules are in force at an event time and decides each
scored transaction. Changes take effect by event time, never by arrival, so a replay applies
them at the same points. Pure: unit tests feed it lists.

>>> book = RuleBook([RuleChange.add(Rule("big", "large order", "total_amount > 1000.0", "flag"))])
>>> book.decide({"ts": 5, "total_amount": 2000.0, "payment_method": "OVO"}, 0.1, 0.5)
Decision(probability=0.1, prediction=1, rules=('big',), model_probability=None)
"""

from __future__ import annotations

import bisect
import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import InitVar, asdict, dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

import cel

from features.definition import FEATURES
from fraudlab import codec
from fraudlab.errors import UsageError
from fraudlab.records import RuleChangeRecord

Action = Literal["flag", "raise"]
ACTIONS: tuple[Action, ...] = ("flag", "raise")
ChangeKind = Literal["add", "disable"]
RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
RULE_FIELDS = ("id", "description", "condition", "action", "score", "effective", "rationale")
# the names a condition may use, and what an example value of each is (to check its types)
VARIABLES: dict[str, Any] = {
    name: ("card" if kind == "category" else 0.0) for name, kind in FEATURES.items()
}
MODEL = "model"  # the reason of a transaction the model alone found


class RuleError(UsageError):
    """A rule, a rule file or a rule change that cannot be used; the message is one sentence
    naming the file, the rule and the field."""


@dataclass(frozen=True)
class Rule:
    """One rule (see the module); ``score`` only for ``raise``."""

    id: str
    description: str
    condition: str
    action: Action = "flag"
    score: float | None = None
    effective: int = 0  # event time, Unix seconds
    rationale: str = ""
    # where the rule comes from, for the sentence that refuses it (not kept)
    where: InitVar[str] = "rule"

    def __post_init__(self, where: str) -> None:
        validate_rule(self, where)

    @cached_property
    def program(self) -> Any:
        """The compiled condition (checked when the rule was made)."""
        return cel.compile(self.condition)

    def matches(self, context: Any) -> bool:
        """Whether the condition holds for ``context`` (a ``cel.Context`` or a mapping of the
        feature names); False when it cannot be evaluated for these values."""
        try:
            return self.program.execute(context) is True
        except (TypeError, ValueError, RuntimeError):
            return False


def _where(source: str, index: int | None, rule_id: object) -> str:
    named = f" ({rule_id})" if isinstance(rule_id, str) and rule_id else ""
    return f"{source}: rule {index}{named}" if index is not None else f"{source}: rule{named}"


def validate_rule(rule: Rule, where: str = "rule") -> None:
    """Raise RuleError (naming ``where`` and the field) when ``rule`` cannot be used."""
    if not isinstance(rule.id, str) or not RULE_ID.match(rule.id):
        raise RuleError(
            f"{where}: field 'id' must be 1 to 64 lower-case letters, digits, '-' or '_' "
            f"starting with a letter or digit, not {rule.id!r}."
        )
    if not isinstance(rule.description, str) or not rule.description.strip():
        raise RuleError(f"{where}: field 'description' must be a non-empty string.")
    if rule.action not in ACTIONS:
        raise RuleError(f"{where}: field 'action' must be 'flag' or 'raise', not {rule.action!r}.")
    if rule.action == "raise":
        if isinstance(rule.score, bool) or not isinstance(rule.score, int | float):
            raise RuleError(f"{where}: field 'score' is needed by action 'raise' (a number).")
        if not 0.0 < float(rule.score) <= 1.0:
            raise RuleError(f"{where}: field 'score' must be in (0, 1], not {rule.score}.")
    elif rule.score is not None:
        raise RuleError(f"{where}: field 'score' goes only with action 'raise'.")
    if isinstance(rule.effective, bool) or not isinstance(rule.effective, int):
        raise RuleError(f"{where}: field 'effective' must be Unix seconds or an ISO 8601 time.")
    check_condition(rule.condition, where)


def check_condition(condition: object, where: str = "rule") -> None:
    """Raise RuleError unless ``condition`` is a CEL expression over :data:`VARIABLES` that
    gives true or false."""
    if not isinstance(condition, str) or not condition.strip():
        raise RuleError(f"{where}: field 'condition' must be a non-empty CEL expression.")
    try:
        program = cel.compile(condition)
    except ValueError as exc:
        first = str(exc).splitlines()[0].split("ERROR: ", 1)[-1]
        raise RuleError(f"{where}: field 'condition' is not valid CEL: {first}.") from None
    unknown = sorted(set(program.variables()) - set(VARIABLES))
    if unknown:
        raise RuleError(
            f"{where}: field 'condition' uses {', '.join(repr(u) for u in unknown)}, which is no "
            f"feature (known: {', '.join(VARIABLES)})."
        )
    try:
        result = program.execute(VARIABLES)
    except (TypeError, ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()[0].split(". ")[0]
        raise RuleError(
            f"{where}: field 'condition' cannot be evaluated ({first}); features are doubles "
            "(write 3.0, not 3) and payment_method a string."
        ) from None
    if not isinstance(result, bool):
        raise RuleError(
            f"{where}: field 'condition' must give true or false, not a {type(result).__name__}."
        )


def event_time(value: object, where: str) -> int:
    """An effective time as Unix seconds, from Unix seconds or an ISO 8601 time with offset."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise RuleError(f"{where}: field 'effective' must be Unix seconds or an ISO 8601 time.")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):  # TOML's own date-times
        stamp = value
    elif isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise RuleError(f"{where}: field 'effective' is no ISO 8601 time: {value!r}.") from None
    else:
        raise RuleError(f"{where}: field 'effective' must be Unix seconds or an ISO 8601 time.")
    if stamp.tzinfo is None:
        raise RuleError(f"{where}: field 'effective' needs its UTC offset (for example {value}Z).")
    return int(stamp.timestamp())


def rule_from_table(table: object, where: str) -> Rule:
    """A :class:`Rule` from one table of a rule file; RuleError naming the field otherwise."""
    if not isinstance(table, Mapping):
        raise RuleError(f"{where}: a rule must be a table of fields.")
    extra = sorted(set(table) - set(RULE_FIELDS))
    if extra:
        raise RuleError(
            f"{where}: field {extra[0]!r} is not a rule field (fields: {', '.join(RULE_FIELDS)})."
        )
    for name in ("id", "description", "condition"):
        if name not in table:
            raise RuleError(f"{where}: field {name!r} is missing.")
    return Rule(
        id=table["id"],
        description=table["description"],
        condition=table["condition"],
        action=table.get("action", "flag"),
        score=table.get("score"),
        effective=event_time(table.get("effective"), where),
        rationale=str(table.get("rationale", "")),
        where=where,
    )


def read_rule_file(path: Path) -> list[Rule]:
    """The rules of a TOML or JSON file (a list ``rules`` of tables); RuleError naming the
    file, the rule and the field when one cannot be used, or when two share an id."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuleError(f"{path}: no such rule file.") from None
    except UnicodeDecodeError:
        raise RuleError(f"{path}: is not UTF-8 text.") from None
    except OSError as exc:
        raise RuleError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    try:
        document = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise RuleError(f"{path}: line {exc.lineno}: not JSON ({exc.msg}).") from None
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{path}: not TOML ({exc}).") from None
    tables = document.get("rules") if isinstance(document, dict) else None
    if not isinstance(tables, list):  # `rules = []` is a file of no rules: "none at all"
        raise RuleError(f"{path}: holds no list 'rules' of rule tables ([[rules]] in TOML).")
    rules: list[Rule] = []
    for index, table in enumerate(tables, start=1):
        rule_id = table.get("id") if isinstance(table, Mapping) else None
        where = _where(str(path), index, rule_id)
        try:
            rules.append(rule_from_table(table, where))
        except RuleError:
            raise
        except Exception as exc:  # a field of the wrong type reaching a check
            raise RuleError(f"{where}: {exc}.") from None
        if rule_id in {r.id for r in rules[:-1]}:
            raise RuleError(f"{where}: field 'id' repeats an earlier rule's id.")
    return rules


@dataclass(frozen=True)
class RuleChange:
    """A rule added (``rule``) or disabled (``rule_id``), from event time ``effective`` on."""

    kind: ChangeKind
    rule_id: str
    effective: int
    rule: Rule | None = None

    @classmethod
    def add(cls, rule: Rule) -> RuleChange:
        return cls("add", rule.id, rule.effective, rule)

    @classmethod
    def disable(cls, rule_id: str, effective: int) -> RuleChange:
        if not RULE_ID.match(rule_id):
            raise RuleError(f"rule change: field 'id' {rule_id!r} is no rule id.")
        return cls("disable", rule_id, effective)

    def to_json(self) -> bytes:
        """The change as a message of a run's rules topic: a
        :class:`fraudlab.records.RuleChangeRecord`, the rule as a JSON string."""
        rule = None
        if self.rule is not None:
            table = {k: v for k, v in asdict(self.rule).items() if v not in (None, "")}
            rule = json.dumps(table, sort_keys=True, separators=(",", ":"))
        record = RuleChangeRecord(self.kind, self.rule_id, self.effective, rule, self.effective)
        return codec.encode(record)

    @classmethod
    def from_json(cls, value: bytes | str, where: str = "rule change") -> RuleChange:
        """A change from a rules-topic message; RuleError naming the field otherwise."""
        try:
            body = json.loads(value)
        except (ValueError, TypeError):
            raise RuleError(f"{where}: not JSON.") from None
        if not isinstance(body, dict) or body.get("kind") not in ("add", "disable"):
            raise RuleError(f"{where}: field 'kind' must be 'add' or 'disable'.")
        effective = event_time(body.get("effective"), where)
        if body["kind"] == "disable":
            return cls.disable(str(body.get("rule_id")), effective)
        table = body.get("rule")
        if isinstance(table, str):
            try:
                table = json.loads(table)
            except ValueError:
                raise RuleError(f"{where}: field 'rule' is not a JSON object.") from None
        if isinstance(table, Mapping) and table.get("id") != body.get("rule_id"):
            raise RuleError(f"{where}: field 'rule_id' is not the id of its rule.")
        rule = rule_from_table(table, where)
        return cls.add(Rule(**{**asdict(rule), "effective": effective}, where=where))


@dataclass(frozen=True)
class Decision:
    """What the model and the rules in force made of one transaction: the final
    ``probability`` (the model's, or more when a ``raise`` rule matched), the ``prediction``
    and the ids of the rules that matched, in rule-book order."""

    probability: float
    prediction: int
    rules: tuple[str, ...] = ()
    model_probability: float | None = None  # when rules raised it: the model's own

    def reasons(self, threshold: float) -> list[str]:
        """Why it is a potential fraud (empty when it is none): ``model`` when the model's own
        probability reached ``threshold``, then the ids of the rules that matched."""
        if not self.prediction:
            return []
        own = self.probability if self.model_probability is None else self.model_probability
        return [*([MODEL] if own >= threshold else []), *self.rules]


@dataclass
class RuleBook:
    """A run's rule changes, in force by event time (see the module).

    Changes are applied in order of (effective time, arrival): a rule added again with the same
    id replaces its earlier version from its effective time on; a disabled rule stops matching
    from its effective time on.
    """

    changes: list[RuleChange] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._versions: list[tuple[int, tuple[Rule, ...]]] = []
        self._rebuild()

    def add(self, change: RuleChange) -> None:
        self.changes.append(change)
        self._rebuild()

    def _rebuild(self) -> None:
        ordered = sorted(enumerate(self.changes), key=lambda c: (c[1].effective, c[0]))
        in_force: dict[str, Rule] = {}
        versions: list[tuple[int, tuple[Rule, ...]]] = []
        for _, change in ordered:
            if change.kind == "add" and change.rule is not None:
                in_force[change.rule_id] = change.rule
            else:
                in_force.pop(change.rule_id, None)
            now = tuple(in_force.values())
            if versions and versions[-1][0] == change.effective:
                versions[-1] = (change.effective, now)
            else:
                versions.append((change.effective, now))
        self._versions = versions
        self._starts = [v[0] for v in versions]

    def in_force(self, ts: int) -> tuple[Rule, ...]:
        """The rules in force at event time ``ts`` (Unix seconds)."""
        at = bisect.bisect_right(self._starts, ts) - 1
        return self._versions[at][1] if at >= 0 else ()

    def decide(self, row: Mapping[str, Any], probability: float, threshold: float) -> Decision:
        """The model's ``probability`` of a feature row, with the rules in force at its ``ts``:
        a ``flag`` makes it a potential fraud, a ``raise`` lifts its probability."""
        rules = self.in_force(int(row["ts"]))
        if not rules:
            return Decision(probability, int(probability >= threshold))
        context = cel.Context({k: row[k] for k in VARIABLES if k in row})
        matched = [r for r in rules if r.matches(context)]
        raised = max([probability, *(float(r.score) for r in matched if r.score is not None)])
        flagged = any(r.action == "flag" for r in matched)
        return Decision(
            raised,
            int(flagged or raised >= threshold),
            tuple(r.id for r in matched),
            probability if raised != probability else None,
        )

    def decide_again(
        self, decision: Decision, ts: int, probability: float, threshold: float
    ) -> Decision:
        """What the rules that matched in ``decision`` (of a row at event time ``ts``) make of
        another model's ``probability`` and ``threshold``: the same flags and raises, without
        evaluating a condition again (a challenger's decision beside the champion's).

        >>> big = rule_from_table({"id": "big", "description": "a large order",
        ...     "condition": "total_amount > 100.0", "action": "raise", "score": 0.9}, "example")
        >>> book = RuleBook([RuleChange.add(big)])
        >>> first = book.decide({"ts": 5, "total_amount": 500.0}, 0.2, 0.5)
        >>> first.prediction, first.rules
        (1, ('big',))
        >>> again = book.decide_again(first, 5, 0.95, 0.99)
        >>> again.probability, again.prediction, again.model_probability
        (0.95, 0, None)
        """
        matched = [r for r in self.in_force(ts) if r.id in decision.rules]
        raised = max([probability, *(float(r.score) for r in matched if r.score is not None)])
        flagged = any(r.action == "flag" for r in matched)
        return Decision(
            raised,
            int(flagged or raised >= threshold),
            decision.rules,
            probability if raised != probability else None,
        )

    def decide_all(
        self, rows: Sequence[Mapping[str, Any]], probabilities: Iterable[float], threshold: float
    ) -> list[Decision]:
        """:meth:`decide` for each row and its probability."""
        return [
            self.decide(row, float(p), threshold)
            for row, p in zip(rows, probabilities, strict=True)
        ]


@lru_cache(maxsize=8)
def rule_book_of(changes: tuple[str, ...]) -> RuleBook:
    """The rule book of a run's changes, given as their rules-topic messages (JSON) in the order
    they came; built once per process for the same changes, so conditions are compiled once
    (the engine's folds ask for it every micro-batch; it is only read)."""
    return RuleBook([RuleChange.from_json(c) for c in changes])


__all__ = [
    "ACTIONS",
    "MODEL",
    "VARIABLES",
    "Decision",
    "Rule",
    "RuleBook",
    "RuleChange",
    "RuleError",
    "check_condition",
    "read_rule_file",
    "rule_book_of",
    "rule_from_table",
    "validate_rule",
]
