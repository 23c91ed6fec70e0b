"""The bookkeeping records of a run: changes to its rules, the delivery of its alerts, what its
parts say and what is asked of it. None is simulated or scored; each is archived as it came.

They are part of the record contract (:mod:`fraudlab.records`, which lists every stream).
"""

from __future__ import annotations

from dataclasses import dataclass

from fraudlab.record_base import Record

__all__ = ["AlertDelivery", "DeliveryDeadLetter", "RuleChangeRecord", "RunControl", "RunEvent"]


# ---- rules ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleChangeRecord(Record):
    """A rule added to a run, or disabled, from event time ``effective`` on (see
    :mod:`rulebook.rules`). ``rule`` is the rule's JSON object for an addition, null for a
    disabling; ``ts`` equals ``effective``."""

    STREAM = "rules"
    KEY = ("rule_id",)

    kind: str
    rule_id: str
    effective: int
    rule: str | None
    ts: int


# ---- alert delivery ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertDelivery(Record):
    """One attempt to deliver an alert to a sink (see :mod:`delivery.sending`): the delivery log.

    ``outcome`` is ``sent`` (the sink took it), ``retried`` (it failed and will be tried again)
    or ``failed`` (the last attempt failed, or the sink refused it for good: the alert is in the
    delivery dead letter). ``detail`` says what the sink answered ("HTTP 503", "timed out after
    5 s"). ``reported_ms`` is when the alert's window reached the fraud-alerts topic, ``at_ms``
    when the attempt ended, both wall-clock Unix milliseconds; ``ts`` is ``at_ms`` in seconds.
    Bookkeeping about an execution, like run-events: the same events give the same alerts, not
    the same attempts.
    """

    STREAM = "deliveries"
    KEY = ("alert_id",)

    alert_id: str
    sink: str
    attempt: int
    outcome: str
    detail: str
    transaction_id: str
    window_end: int
    reported_ms: int
    at_ms: int
    ts: int


@dataclass(frozen=True, slots=True)
class DeliveryDeadLetter(Record):
    """An alert a sink did not take after its last attempt: the alert as it would have been sent
    (``payload``, JSON), the sink, how many attempts were made and the last one's ``reason``."""

    STREAM = "delivery-dead-letter"
    KEY = ("alert_id",)

    alert_id: str
    sink: str
    attempts: int
    reason: str
    payload: str
    ts: int


# ---- run bookkeeping -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunEvent(Record):
    """A part of a run (producer, engine, archiver, replay) saying what it runs with, or ends.

    ``details`` is a JSON object: scenario text and seed, model name and digest, settings, code
    version, counts. ``ts`` is wall-clock time: this is bookkeeping about an execution, not part
    of the simulated world, and is left out of every determinism digest.
    """

    STREAM = "run-events"
    KEY = ("run_id",)  # one partition per run: its events stay in the order they happened

    run_id: str
    part: str
    event: str
    details: str
    ts: int


@dataclass(frozen=True, slots=True)
class RunControl(Record):
    """A request made to a playing run from outside it (:mod:`fraudlab.run_control`):
    ``pause`` or ``resume`` its source, go on at ``speed`` (simulated seconds per wall second,
    set for ``speed`` alone), or ``stop`` the run as a Ctrl-C of ``fraudlab run`` does. ``by``
    says who asked (``browser``, ``cli``, ``notebook``); ``ts`` is wall-clock Unix seconds.
    Bookkeeping about an execution, like run-events: it changes when messages are sent, never
    their event times, so it is left out of every determinism digest."""

    STREAM = "control"
    KEY = ("run_id",)  # one partition per run: requests are applied in the order they came

    run_id: str
    action: str
    speed: float | None
    requested_by: str
    ts: int
