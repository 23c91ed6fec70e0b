"""Golden digests of the scenario regression suite: kept in a file, compared, differences told.

For each named scenario the file pins two digests of a short run with a fixed seed and start:

- the canonical event stream (:func:`simulator.simulation.canonical_digest` of every message
  the run produced), with its message count per stream and a short digest per chunk of
  :data:`CHUNK_MESSAGES` messages, so that a change is located to the first chunk that differs;
- the alert set, the sorted (window start, transaction id) pairs of the fraud-alerts topic, kept
  whole because they are few, so that a change is shown record by record;
- the inventory stream (the simulated shop's stock changes) and the demand forecast (the
  engine's inventory-forecast rows), each digested as the sorted set of its records' values, so
  that a change to either is named as such (the event digest covers the inventory stream too).

The model the alerts come from is pinned by its fingerprint (see
:mod:`lab.regression_suite`), so that a changed model is reported as such rather than
as a change in every scenario.

Everything here is pure: lists in, sentences out, no Kafka and no Spark.

>>> pairs = [(1767571210, "t2"), (1767571200, "t1")]
>>> alerts = alert_digest(pairs)
>>> alerts.pairs, alerts.count, len(alerts.digest)
(((1767571200, 't1'), (1767571210, 't2')), 2, 64)
>>> print("\\n".join(alert_differences(alerts, alert_digest([(1767571200, "t1")]))))
  - 2026-01-05T00:00:10Z  t2
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraudlab.errors import UsageError

# messages per chunk digest: small enough to point at a few records, few enough to keep the file
# small (a five-minute run has about 25,000 messages)
CHUNK_MESSAGES = 64
# hex digits kept of each chunk digest: enough to tell chunks apart, not to pin them
CHUNK_HEX = 12
# differing records shown per digest
SHOWN = 6
FORMAT_VERSION = 1

UPDATE_HINT = "if the change is intended, run `fraudlab regress --update` and say why in the commit"


@dataclass(frozen=True)
class EventDigest:
    """The canonical event stream of one run, digested whole and in chunks."""

    digest: str
    streams: dict[str, int]
    chunks: tuple[str, ...]

    @property
    def count(self) -> int:
        return sum(self.streams.values())


@dataclass(frozen=True)
class AlertDigest:
    """The alert set of one run: sorted (window start, transaction id) pairs and their digest."""

    digest: str
    pairs: tuple[tuple[int, str], ...]

    @property
    def count(self) -> int:
        return len(self.pairs)


@dataclass(frozen=True)
class RecordsDigest:
    """A set of records (message values): how many, and the digest of them sorted."""

    digest: str
    count: int


def records_digest(values: Iterable[bytes]) -> RecordsDigest:
    """The digest (SHA-256, hex) of message values sorted, each length-prefixed, and their count.

    >>> records_digest([b"b", b"a"]) == records_digest([b"a", b"b"])
    True
    """
    ordered = sorted(values)
    sha = hashlib.sha256()
    for value in ordered:
        sha.update(f"{len(value)}\n".encode())
        sha.update(value)
    return RecordsDigest(sha.hexdigest(), len(ordered))


@dataclass(frozen=True)
class ScenarioDigests:
    """What one scenario's regression run gave (or, in the file, must give)."""

    name: str
    seed: int
    minutes: float
    customers: int
    events: EventDigest
    alerts: AlertDigest
    # the inventory stream and the demand forecast (None in a golden file written before them)
    inventory: RecordsDigest | None = None
    forecast: RecordsDigest | None = None

    @property
    def scale(self) -> str:
        """Seed, horizon and world size in words."""
        return f"seed {self.seed}, {self.minutes:g} minutes, {self.customers:,} customers"


@dataclass(frozen=True)
class ModelFingerprint:
    """The model the alerts come from: how it is trained, and what it says on fixed rows."""

    recipe: dict[str, Any]
    kind: str
    threshold: float
    fingerprint: str


@dataclass(frozen=True)
class Goldens:
    """The golden file: the model's fingerprint and each scenario's digests."""

    model: ModelFingerprint | None = None
    scenarios: dict[str, ScenarioDigests] = field(default_factory=dict)


def chunk_digests(chunk_hex: Iterable[str]) -> tuple[str, ...]:
    """Full chunk digests shortened to :data:`CHUNK_HEX` hex digits."""
    return tuple(h[:CHUNK_HEX] for h in chunk_hex)


def alert_digest(pairs: Iterable[tuple[int, str]]) -> AlertDigest:
    """The alert set of ``pairs`` (any order, repeats dropped), sorted and digested."""
    ordered = tuple(sorted(set(pairs)))
    digest = hashlib.sha256()
    for window_start, transaction_id in ordered:
        digest.update(f"{window_start}\t{transaction_id}\n".encode())
    return AlertDigest(digest.hexdigest(), ordered)


def first_differing_chunk(golden: Sequence[str], now: Sequence[str]) -> int | None:
    """Index of the first chunk that differs (or exists on one side only); None if none does.

    >>> first_differing_chunk(["a", "b", "c"], ["a", "x", "c"]), first_differing_chunk("ab", "ab")
    (1, None)
    >>> first_differing_chunk(["a"], ["a", "b"])
    1
    """
    for i, (g, n) in enumerate(zip(golden, now, strict=False)):
        if g != n:
            return i
    return None if len(golden) == len(now) else min(len(golden), len(now))


def _when(window_start: int) -> str:
    return datetime.fromtimestamp(window_start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert_differences(golden: AlertDigest, now: AlertDigest, shown: int = SHOWN) -> list[str]:
    """The first ``shown`` pairs that only one side has, in order: ``-`` golden, ``+`` now."""
    gone, new = set(golden.pairs) - set(now.pairs), set(now.pairs) - set(golden.pairs)
    lines = []
    for pair in sorted(gone | new)[:shown]:
        lines.append(f"  {'-' if pair in gone else '+'} {_when(pair[0])}  {pair[1]}")
    return lines


def _short(digest: str) -> str:
    return f"{digest[:12]}…"


def _count_changes(golden: dict[str, int], now: dict[str, int]) -> str:
    changed = [
        f"{s} {golden.get(s, 0):,} -> {now.get(s, 0):,}"
        for s in sorted(set(golden) | set(now))
        if golden.get(s, 0) != now.get(s, 0)
    ]
    return ", ".join(changed) if changed else "the same count per stream"


ChunkLines = Callable[[int], list[str]]


def scenario_failures(
    golden: ScenarioDigests, now: ScenarioDigests, chunk_lines: ChunkLines | None = None
) -> list[str]:
    """Why ``now`` fails its golden: one paragraph per digest that differs ([] if none does).

    ``chunk_lines(i)`` gives the current records of event chunk ``i``, shown under the events'
    paragraph.
    """
    name = now.name
    if golden.scale != now.scale:
        return [
            f"{name}: the golden is of {golden.scale}, the suite ran {now.scale}; {UPDATE_HINT}."
        ]
    failures = []
    if golden.events.digest != now.events.digest:
        lines = [
            f"{name}: the event stream differs from the golden (digest "
            f"{_short(golden.events.digest)} now {_short(now.events.digest)}): "
            f"{_count_changes(golden.events.streams, now.events.streams)}."
        ]
        chunk = first_differing_chunk(golden.events.chunks, now.events.chunks)
        if chunk is not None:
            first = chunk * CHUNK_MESSAGES
            lines.append(
                f"  first difference within messages {first:,}-{first + CHUNK_MESSAGES - 1:,} "
                f"(chunk {chunk} of {len(now.events.chunks)}), now:"
            )
            if chunk_lines is not None:
                lines.extend(f"    {line}" for line in chunk_lines(chunk)[:SHOWN])
        failures.append("\n".join(lines))
    if golden.alerts.digest != now.alerts.digest:
        gone = len(set(golden.alerts.pairs) - set(now.alerts.pairs))
        new = len(set(now.alerts.pairs) - set(golden.alerts.pairs))
        lines = [
            f"{name}: the alert set differs from the golden: {golden.alerts.count:,} "
            f"(window, transaction) pairs golden, {now.alerts.count:,} now "
            f"({new:,} added, {gone:,} removed); first differences:",
            *alert_differences(golden.alerts, now.alerts),
        ]
        failures.append("\n".join(lines))
    for what, golden_records, now_records in (
        ("inventory stream", golden.inventory, now.inventory),
        ("demand forecast", golden.forecast, now.forecast),
    ):
        if golden_records is None:
            if now_records is not None:
                failures.append(f"{name}: the goldens pin no {what}; {UPDATE_HINT}.")
        elif now_records is None or golden_records.digest != now_records.digest:
            count = "none" if now_records is None else f"{now_records.count:,}"
            failures.append(
                f"{name}: the {what} differs from the golden: {golden_records.count:,} records "
                f"golden, {count} now."
            )
    return failures


def model_failure(golden: ModelFingerprint | None, now: ModelFingerprint) -> str | None:
    """Why the model differs from the golden's, or None when it does not."""
    if golden is None:
        return f"the goldens pin no model; {UPDATE_HINT}."
    if golden.recipe != now.recipe:
        return (
            f"the regression model is trained as {now.recipe}, the goldens' as {golden.recipe}; "
            "every alert set may differ because of it."
        )
    if golden.fingerprint != now.fingerprint:
        return (
            f"the regression model differs from the goldens' (fingerprint "
            f"{_short(golden.fingerprint)} now {_short(now.fingerprint)}, threshold "
            f"{golden.threshold:.6g} now {now.threshold:.6g}): its training history, features "
            "or Spark ML changed, and alert sets that differ below may differ because of the "
            "model rather than a scenario."
        )
    return None


def scenario_changes(golden: ScenarioDigests | None, now: ScenarioDigests) -> str:
    """One line for ``--update``: what changed in a scenario's digests."""
    if golden is None:
        return f"{now.name}: new ({now.events.count:,} messages, {now.alerts.count:,} alert pairs)"
    parts = []
    if golden.scale != now.scale:
        parts.append(f"{golden.scale} -> {now.scale}")
    if golden.events.digest != now.events.digest:
        parts.append(
            f"events changed ({_count_changes(golden.events.streams, now.events.streams)})"
        )
    if golden.alerts.digest != now.alerts.digest:
        gone = len(set(golden.alerts.pairs) - set(now.alerts.pairs))
        new = len(set(now.alerts.pairs) - set(golden.alerts.pairs))
        parts.append(
            f"alerts changed ({golden.alerts.count:,} -> {now.alerts.count:,} pairs: "
            f"{new:,} added, {gone:,} removed)"
        )
    for what, before, after in (
        ("inventory", golden.inventory, now.inventory),
        ("forecast", golden.forecast, now.forecast),
    ):
        if (before and before.digest) != (after and after.digest):
            counts = [_records_count(before), _records_count(after)]
            parts.append(f"{what} changed ({counts[0]} -> {counts[1]} records)")
    return f"{now.name}: {'; '.join(parts) if parts else 'unchanged'}"


def _records_count(records: RecordsDigest | None) -> str:
    return "none" if records is None else f"{records.count:,}"


def model_changes(golden: ModelFingerprint | None, now: ModelFingerprint) -> str:
    """One line for ``--update``: whether the model changed."""
    if golden is None:
        return f"model: new ({now.kind}, threshold {now.threshold:.6g})"
    same = (golden.recipe, golden.fingerprint) == (now.recipe, now.fingerprint)
    if same:
        return "model: unchanged"
    return (
        f"model: changed (fingerprint {_short(golden.fingerprint)} -> {_short(now.fingerprint)}, "
        f"threshold {golden.threshold:.6g} -> {now.threshold:.6g})"
    )


def _scenario_json(s: ScenarioDigests) -> dict[str, Any]:
    return {
        "seed": s.seed,
        "minutes": s.minutes,
        "customers": s.customers,
        "events": {
            "digest": s.events.digest,
            "count": s.events.count,
            "streams": dict(sorted(s.events.streams.items())),
            "chunk_messages": CHUNK_MESSAGES,
            "chunks": " ".join(s.events.chunks),
        },
        "alerts": {
            "digest": s.alerts.digest,
            "count": s.alerts.count,
            "pairs": [f"{w} {t}" for w, t in s.alerts.pairs],
        },
        **{
            key: {"digest": records.digest, "count": records.count}
            for key, records in (("inventory", s.inventory), ("forecast", s.forecast))
            if records is not None
        },
    }


def goldens_json(goldens: Goldens, about: str) -> str:
    """The golden file's text: scenarios by name, one alert pair per line (readable diffs)."""
    document: dict[str, Any] = {"about": about, "format": FORMAT_VERSION}
    if goldens.model is not None:
        m = goldens.model
        document["model"] = {
            "recipe": m.recipe,
            "kind": m.kind,
            "threshold": m.threshold,
            "fingerprint": m.fingerprint,
        }
    document["scenarios"] = {
        name: _scenario_json(goldens.scenarios[name]) for name in sorted(goldens.scenarios)
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _scenario_from(name: str, obj: dict[str, Any]) -> ScenarioDigests:
    events, alerts = obj["events"], obj["alerts"]
    if events.get("chunk_messages", CHUNK_MESSAGES) != CHUNK_MESSAGES:
        raise ValueError(f"chunks of {events['chunk_messages']} messages, not {CHUNK_MESSAGES}")
    pairs = []
    for line in alerts["pairs"]:
        window_start, transaction_id = line.split(" ", 1)
        pairs.append((int(window_start), transaction_id))
    return ScenarioDigests(
        name=name,
        seed=int(obj["seed"]),
        minutes=float(obj["minutes"]),
        customers=int(obj["customers"]),
        events=EventDigest(
            digest=str(events["digest"]),
            streams={str(k): int(v) for k, v in events["streams"].items()},
            chunks=tuple(str(events["chunks"]).split()),
        ),
        alerts=AlertDigest(str(alerts["digest"]), tuple(pairs)),
        inventory=_records_from(obj.get("inventory")),
        forecast=_records_from(obj.get("forecast")),
    )


def _records_from(obj: dict[str, Any] | None) -> RecordsDigest | None:
    return None if obj is None else RecordsDigest(str(obj["digest"]), int(obj["count"]))


def parse_goldens(text: str) -> Goldens:
    """Goldens from the file's text; ValueError (or KeyError) when it is not a golden file."""
    document = json.loads(text)
    if document.get("format") != FORMAT_VERSION:
        raise ValueError(f"format {document.get('format')!r}, not {FORMAT_VERSION}")
    model = None
    if "model" in document:
        m = document["model"]
        model = ModelFingerprint(
            dict(m["recipe"]), str(m["kind"]), float(m["threshold"]), str(m["fingerprint"])
        )
    scenarios = {
        name: _scenario_from(name, obj) for name, obj in dict(document["scenarios"]).items()
    }
    return Goldens(model, scenarios)


def read_goldens(path: Path) -> Goldens:
    """The golden file at ``path``; a missing or broken file is one UsageError sentence."""
    if not path.is_file():
        raise UsageError(
            f"no golden file at {path}: create it with `fraudlab regress --update` (and commit it)."
        )
    try:
        return parse_goldens(path.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"golden file {path} is not readable ({type(exc).__name__}: {exc}); "
            "restore it from git or rewrite it with `fraudlab regress --update`."
        ) from None


def write_goldens(path: Path, goldens: Goldens, about: str) -> None:
    """Write the golden file (whole, replacing what was there)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(goldens_json(goldens, about), encoding="utf-8")
    temporary.replace(path)
