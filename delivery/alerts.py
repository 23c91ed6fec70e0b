"""New fraud alerts from the fraud-alerts report, and the JSON every sink receives.

The 10 s report lists each window's potential frauds, so a transaction appears in every sliding
2-minute window that holds it (up to 12). An *alert* is a potential fraud's first appearance: the
first window (in the report's window-end order) that lists it. Alerts are taken window by window,
and within a window by event time, then transaction id; each has the idempotency key
``<run_id>:<transaction_id>``, the same in every delivery attempt and every restart.

The payload (``format`` ``fraudlab.alert.v2``), as a webhook's body and a Kafka sink's value:

=======================  ===================================================================
``format``               ``"fraudlab.alert.v2"``
``alert_id``             the idempotency key, ``<run_id>:<transaction_id>``
``run_id``               the run
``transaction_id``, ``customer_id``, ``session_id``   the transaction's
``ts``, ``event_time``   its event time: Unix seconds, and ISO 8601 in UTC
``total_amount``         its amount
``shipment_location_lat``, ``shipment_location_long``   where it ships to
``probability``          the decision's probability (the model's, or a rule's raised score)
``reasons``              why: ``"model"`` and/or the ids of the rules that flagged it
``window_start``, ``window_end``   the report window it was first listed in (Unix seconds)
``reported_ms``          when that window reached the fraud-alerts topic (Unix milliseconds)
``explanation``          why the model scored it so: ``{"bias", "others", "top": [{"feature",
                         "value", "contribution"}...]}`` in log-odds (:mod:`models.explanations`),
                         or null for a score that carries none
=======================  ===================================================================

Version 2 adds ``explanation`` and changes nothing else of version 1: a receiver that ignores
keys it does not know reads both; one that must know tells them apart by ``format``.

>>> window = FraudAlerts(1767571200, 1767571320, 2, (
...     AlertedTransaction("t2", "s2", "c2", 1767571300, 80.0, -6.2, 106.8, 0.91, "model"),
...     AlertedTransaction("t1", "s1", "c1", 1767571290, 20.0, -6.1, 106.7, 1.0, "model,burst"),
... ))
>>> seen: set[str] = set()
>>> [a.transaction_id for a in new_alerts("r1", window, seen, reported_ms=0)]
['t1', 't2']
>>> new_alerts("r1", window, seen, reported_ms=0)
[]
>>> alert = new_alerts("r1", window, set(), reported_ms=0)[0]
>>> alert.alert_id, alert.payload()["reasons"], alert.payload()["event_time"]
('r1:t1', ['model', 'burst'], '2026-01-05T00:01:30Z')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from fraudlab.records import AlertedTransaction, FraudAlerts

__all__ = ["PAYLOAD_FORMAT", "Alert", "alert_id", "new_alerts"]

PAYLOAD_FORMAT = "fraudlab.alert.v2"


def alert_id(run_id: str, transaction_id: str) -> str:
    """The idempotency key of a transaction's alert in a run."""
    return f"{run_id}:{transaction_id}"


@dataclass(frozen=True)
class Alert:
    """One new fraud alert: a potential fraud and the report window that first listed it."""

    run_id: str
    transaction: AlertedTransaction
    window_start: int
    window_end: int
    reported_ms: int

    @property
    def alert_id(self) -> str:
        return alert_id(self.run_id, self.transaction.transaction_id)

    @property
    def transaction_id(self) -> str:
        return self.transaction.transaction_id

    def payload(self) -> dict[str, Any]:
        """The alert as every sink receives it (the table in this module's docstring)."""
        t = self.transaction
        return {
            "format": PAYLOAD_FORMAT,
            "alert_id": self.alert_id,
            "run_id": self.run_id,
            "transaction_id": t.transaction_id,
            "customer_id": t.customer_id,
            "session_id": t.session_id,
            "ts": t.ts,
            "event_time": datetime.fromtimestamp(t.ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "total_amount": t.total_amount,
            "shipment_location_lat": t.shipment_location_lat,
            "shipment_location_long": t.shipment_location_long,
            "probability": t.probability,
            "reasons": [r for r in (t.reasons or "model").split(",") if r],
            "window_start": self.window_start,
            "window_end": self.window_end,
            "reported_ms": self.reported_ms,
            "explanation": None if t.explanation is None else orjson.loads(t.explanation),
        }


def new_alerts(
    run_id: str, window: FraudAlerts, seen: set[str], *, reported_ms: int
) -> list[Alert]:
    """The transactions of ``window`` not in ``seen`` (transaction ids), as alerts in event-time
    order; ``seen`` gains them. ``reported_ms``: when the window reached the topic."""
    fresh = sorted(
        (t for t in window.transactions if t.transaction_id not in seen),
        key=lambda t: (t.ts, t.transaction_id),
    )
    unique: list[Alert] = []
    for t in fresh:
        if t.transaction_id in seen:  # listed twice in one window
            continue
        seen.add(t.transaction_id)
        unique.append(Alert(run_id, t, window.window_start, window.window_end, reported_ms))
    return unique
