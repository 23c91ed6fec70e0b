"""What a ``fraudlab produce`` is to send: a new run, or one continued (``--resume``).

A run's producer announces everything its simulation needs (the scenario's text, seed, start,
minutes and speed, see :func:`simulator.producer.run_details`), so a run stopped part way is
simulated again from its announcement alone, whatever became of the scenario file since, and
the messages its topics hold are skipped (:mod:`fraudlab.resume`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraudlab.errors import UsageError
from fraudlab.kafka_session import KafkaSession
from fraudlab.resume import ResumePoint, resume_point, resumed_pace
from simulator.clock import parse_start
from simulator.producer import PRODUCED_STREAMS, run_details
from simulator.scenario import parse_scenario
from simulator.simulation import Simulation


@dataclass(frozen=True)
class ProducePlan:
    """One produce: the run, its simulation, its pace (None: --fast), the ``started`` details,
    and for a continued run where it stands."""

    run_id: str
    name: str
    simulation: Simulation
    speed: float | None
    details: dict[str, Any]
    resume: ResumePoint | None = None


async def resumed_run(
    kafka: KafkaSession, run_id: str, speed: float | None = None, fast: bool = False
) -> ProducePlan:
    """The plan that continues run ``run_id`` at ``speed``, or ``fast``, or else as announced,
    from where its topics at ``kafka`` stand.

    Raises UsageError, in one sentence, for a run that is unknown, finished, or not produced
    from a scenario (a CSV run's or a replay's messages are not simulated)."""
    point = await resume_point(kafka, run_id, PRODUCED_STREAMS)
    d = point.details
    if "replay_of" in d:
        raise UsageError(
            f"run {run_id} is a replay of run {d['replay_of']}: continue it with "
            f"`fraudlab replay --resume {run_id}`."
        )
    if not isinstance(d.get("scenario_text"), str):
        raise UsageError(
            f"run {run_id} was not produced from a scenario ({d.get('scenario', 'unknown')}): "
            "only scenario runs can be resumed; produce it again under a new run id."
        )
    try:
        scenario = parse_scenario(d["scenario_text"], Path(f"run {run_id}'s scenario"))
        seed, minutes = int(d["seed"]), float(d["minutes"])
        start = parse_start(str(d["start"]))
        customers = None if d.get("customers") is None else int(d["customers"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(
            f"run {run_id}'s producer announcement is incomplete ({exc}): it cannot be resumed."
        ) from None
    pace = resumed_pace(d, speed, fast)
    details = run_details(scenario.text, scenario.name, seed, start, minutes, pace, customers)
    if customers is not None:
        scenario = scenario.with_customers(customers)
    simulation = Simulation(scenario, seed, start, minutes)
    return ProducePlan(run_id, scenario.name, simulation, pace, details, point)
