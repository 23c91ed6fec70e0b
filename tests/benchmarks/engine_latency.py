"""Produce-to-alert latency of the engine, live next to a paced producer (``bench_engine.py``).

The run's transactions, scores and fraud-alerts topics are created beforehand with
``message.timestamp.type=LogAppendTime`` (the engine reads no Kafka timestamp of a well-formed
record, and creates only the topics that are missing), so every message carries the broker's
wall-clock time of its arrival: a latency is the difference of two such times, both in Kafka.

With ``webhook``, the delivery part (:mod:`delivery.sending`) runs beside the engine and sends
each new alert to a real local HTTP server, which notes the wall-clock time each arrives: the
alert-to-webhook latency is that time less the broker's time of the alert's first report
window, on the same machine's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from delivery.sending import deliver_run
from engine.job import EngineOptions, run_engine
from fraudlab.kafka_io import (
    RUN_TOPIC_CONFIG,
    create_topics,
    end_offsets,
    list_topics,
    make_consumer,
    start_or_report,
)
from fraudlab.kafka_session import KafkaSession
from fraudlab.settings import Settings, WebhookSink
from fraudlab.topics import topic_name
from simulator.clock import DEFAULT_START
from simulator.producer import PRODUCED_STREAMS, produce_run, run_details
from simulator.scenario import load_scenario
from simulator.simulation import Simulation
from tests.delivery.webhook_receiver import WebhookReceiver

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# the last event-time seconds of a run: their windows close only when the engine closes the run
TAIL_SIM_S = 150.0
WINDOW_WAIT_S = 120  # the watermark's lateness; an event's first window ends 0-10 s after it
GROWTH_LIMIT = 0.02  # s of score latency per s of run beyond which the engine fell behind
PACE_LIMIT = 0.97  # event time read per wall second / the producer's, below it: fell behind
DRAIN_LIMIT_S = 90.0  # how long the engine may go on reading after the producer ended
EVENTS = (".browsing", ".transactions")
PROGRESS_EVERY_S = 15.0
START_LIMIT_S = 300.0  # for the engine's first scoring micro-batch, every profile folded in
SETTLE_S = 20.0  # after it, for the engine to work off what arrived meanwhile
DELIVERY_DRAIN_S = 60.0  # how long the delivery may go on after the engine ended

Message = tuple[int, bytes | None, bytes]  # (Kafka timestamp ms, key, value)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (linear interpolation); NaN without values."""
    return float(np.percentile(values, q)) if values else math.nan


async def create_log_append_topics(bootstrap: str, topics: list[str], partitions: int) -> None:
    """Topics whose messages carry the broker's wall-clock time of arrival."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await start_or_report(admin, bootstrap)
    config = {**RUN_TOPIC_CONFIG, "message.timestamp.type": "LogAppendTime"}
    try:
        await admin.create_topics(
            [NewTopic(t, partitions, 1, topic_configs=config) for t in topics]
        )
    finally:
        await admin.close()


async def read_topic(bootstrap: str, topic: str) -> list[Message]:
    """Every message of ``topic`` with its timestamp."""
    ends = await end_offsets(bootstrap, [topic])
    parts = [TopicPartition(t, p) for (t, p), end in ends.items() if end > 0]
    out: list[Message] = []
    if not parts:
        return out
    consumer = make_consumer(bootstrap)
    await start_or_report(consumer, bootstrap)
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        while len(out) < sum(ends.values()):
            batch = await consumer.getmany(timeout_ms=5000, max_records=50_000)
            if not batch:
                break
            for records in batch.values():
                out.extend((r.timestamp, r.key, r.value) for r in records)
    finally:
        await consumer.stop()
    return out


class EngineWatch:
    """Follows the live engine's scores query: when its first micro-batch ended, and the
    latest event time it had read after each micro-batch (how fast it gets through the run)."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.first_batch_at: float | None = None
        self.marks: list[tuple[float, float]] = []  # (wall time, latest event time read)
        self._batch: int | None = None
        self._shown = 0.0

    def __call__(self, _status: dict[str, Any]) -> None:
        query = next((q for q in self.spark.streams.active if q.name == "scoring"), None)
        last = query.lastProgress if query is not None else None
        if not last or last["batchId"] == self._batch:
            return
        now, self._batch = time.time(), last["batchId"]
        if self.first_batch_at is None:
            self.first_batch_at = now
        latest = (last.get("eventTime") or {}).get("max")
        if latest:
            self.marks.append(
                (now, datetime.fromisoformat(latest.replace("Z", "+00:00")).timestamp())
            )
        if time.monotonic() - self._shown >= PROGRESS_EVERY_S:
            self._shown = time.monotonic()
            print(
                f"    engine: scores batch {last['batchId']} took "
                f"{last['durationMs']['triggerExecution']:,} ms, read up to {latest}",
                file=sys.stderr,
                flush=True,
            )

    def pace(self, speed: float, produced_until: float) -> float:
        """Event time the engine got through per wall second, over the producer's (``speed``),
        while it had input left: 1 when it keeps up, less when it falls behind (from its second
        batch on)."""
        marks = [m for m in self.marks[1:] if m[1] < produced_until - 5]
        if len(marks) < 2:
            return math.nan
        (w0, e0), (w1, e1) = marks[0], marks[-1]
        return (e1 - e0) / (w1 - w0) / speed if w1 > w0 else math.nan

    def behind_s(self, speed: float, produced_until: float, at: float) -> float:
        """Wall seconds of input the engine had still to read at ``at`` (the producer's end)."""
        marks = [m for m in self.marks if m[0] <= at]
        if not marks:
            return math.nan
        return max(0.0, produced_until - marks[-1][1]) / speed


def latency_run(
    spark: SparkSession,
    settings: Settings,
    model_name: str,
    scenario_seed: tuple[str, int],
    speed: float,
    measure_s: float,
    hold: bool = True,
    webhook: bool = False,
) -> dict[str, Any]:
    """Produce at ``speed`` with the engine live on a thread; the latency figures (``hold``:
    the engine holds records until the frontier passes them, see :mod:`engine.frontier`;
    ``webhook``: the alerts are also delivered to a local webhook, and timed).

    The measured transactions are those that reached Kafka during ``measure_s`` wall seconds
    starting SETTLE_S after the engine's first scoring micro-batch (which folds every customer
    profile) ended; the producer goes on for TAIL_SIM_S simulated seconds more, then stops.
    """
    bootstrap, partitions = settings.bootstrap_servers, settings.topic_partitions
    run_id = f"bench-engine-live-{round(speed)}{'' if hold else '-no-hold'}"
    timed = {s: topic_name(run_id, s) for s in ("transactions", "scores", "fraud-alerts")}
    asyncio.run(create_log_append_topics(bootstrap, list(timed.values()), partitions))
    topics = [topic_name(run_id, s) for s in PRODUCED_STREAMS]
    asyncio.run(create_topics(bootstrap, topics, partitions))
    # the engine checks them before the producer would create them: wait until they are listed
    while not set(topics) <= set(asyncio.run(list_topics(bootstrap))):
        time.sleep(0.2)
    watch, stop_at = EngineWatch(spark), {"t": math.inf}
    outcome: dict[str, Any] = {}

    def engine() -> None:
        try:
            options = EngineOptions(
                run_id, model_name, speed=speed, until_producer_ends=True, hold=hold
            )
            outcome["report"] = run_engine(
                spark, settings, options, watch, lambda: time.time() > stop_at["t"]
            )
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=engine, name="engine", daemon=True)
    thread.start()
    delivery = _Delivery(settings, run_id) if webhook else None
    started = time.time()

    def window() -> tuple[float, float] | None:
        first = watch.first_batch_at
        return None if first is None else (first + SETTLE_S, first + SETTLE_S + measure_s)

    sent_curve: list[tuple[float, float, int]] = []  # (wall time, simulated s, events sent)

    def progress(sim_s: float, sent: Counter[str]) -> None:
        events = sum(n for t, n in sent.items() if t.endswith(EVENTS))
        sent_curve.append((time.time(), sim_s, events))

    def done_producing() -> bool:
        span = window()
        if span is None:
            return time.time() - started > START_LIMIT_S
        if time.time() <= span[1]:
            return False
        # the measured transactions' windows close before the engine's live queries stop
        at_end = max((sim_s for wall, sim_s, _ in sent_curve if wall <= span[1]), default=0.0)
        return sent_curve[-1][1] >= at_end + TAIL_SIM_S

    minutes = ((START_LIMIT_S + SETTLE_S + measure_s) * speed + TAIL_SIM_S) / 60 + 1
    produced = asyncio.run(
        _produce_until(settings, run_id, scenario_seed, minutes, speed, progress, done_producing)
    )
    produced_at = time.time()
    load = os.getloadavg()[0]
    stop_at["t"] = produced_at + DRAIN_LIMIT_S
    live_end = _live_end(spark, thread)
    if "error" in outcome:
        raise outcome["error"]
    arrived = delivery.finish() if delivery is not None else None
    span = window()
    if span is None:
        raise RuntimeError(f"the engine scored nothing in {START_LIMIT_S:g} s")
    # what the producer reached in the measured window: events and simulated s per wall s
    in_window = [c for c in sent_curve if span[0] <= c[0] <= span[1]]
    (w0, s0, n0), (w1, s1, n1) = in_window[0], in_window[-1]
    achieved, reached = (n1 - n0) / (w1 - w0), (s1 - s0) / (w1 - w0)
    produced_until = DEFAULT_START.timestamp() + produced
    pace = watch.pace(reached, produced_until)
    figures = _latency_figures(bootstrap, timed, reached, span, live_end, arrived)
    figures["kept_up"] = figures["kept_up"] and not pace < PACE_LIMIT
    return {
        "speed": round(speed, 2),
        "speed_reached": round(reached, 2),
        "achieved_events_per_s": round(achieved),
        "engine_pace": round(pace, 3),
        "engine_events_per_s": round(pace * achieved) if not math.isnan(pace) else None,
        "behind_at_producer_end_s": round(watch.behind_s(reached, produced_until, produced_at), 1),
        "simulated_minutes": round(produced / 60, 1),
        "first_scoring_batch_s": round(span[0] - SETTLE_S - started, 1),
        "settle_s": SETTLE_S,
        "measured_s": measure_s,
        "engine_after_producer_s": round(live_end - produced_at, 1),
        "stopped_at_drain_limit": live_end - produced_at >= DRAIN_LIMIT_S,
        "load_average_1min": round(load, 2),
        **figures,
    }


async def _produce_until(
    settings: Settings,
    run_id: str,
    scenario_seed: tuple[str, int],
    minutes: float,
    speed: float,
    progress: Callable[[float, Counter[str]], None],
    done: Callable[[], bool],
) -> float:
    """Produce the run paced at ``speed`` until ``done()``; the simulated seconds produced."""
    name, seed = scenario_seed
    scenario = load_scenario(name, settings.scenarios_dir)
    reached = {"sim_s": 0.0}

    def follow(sim_s: float, sent: Counter[str]) -> None:
        reached["sim_s"] = sim_s
        progress(sim_s, sent)

    task = asyncio.create_task(
        produce_run(
            Simulation(scenario, seed, DEFAULT_START, minutes),
            DEFAULT_START,
            run_id,
            settings.bootstrap_servers,
            settings.topic_partitions,
            speed,
            details=run_details(scenario.text, scenario.name, seed, DEFAULT_START, minutes, speed),
            progress=follow,
        )
    )
    while not task.done() and not done():
        await asyncio.sleep(0.2)
    if not task.done():
        # the producer announces that it was interrupted: the engine then reads what it left
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return reached["sim_s"]


class _Delivery:
    """The delivery part on a thread of its own, sending to a local webhook receiver."""

    def __init__(self, settings: Settings, run_id: str) -> None:
        self.receiver = WebhookReceiver().__enter__()
        sink = WebhookSink(kind="webhook", name="bench", url=self.receiver.url)
        self.settings = settings.model_copy(update={"alert_sinks": (sink,)})
        self.stop_at = math.inf
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(run_id,), name="delivery")
        self.thread.start()

    def _run(self, run_id: str) -> None:
        try:
            asyncio.run(self._deliver(run_id))
        except BaseException as exc:
            self.error = exc

    async def _deliver(self, run_id: str) -> None:
        async with KafkaSession(self.settings.bootstrap_servers) as kafka:
            await deliver_run(
                kafka,
                self.settings,
                run_id,
                until_engine_ends=True,
                should_stop=lambda: time.time() > self.stop_at,
            )

    def finish(self) -> dict[str, int]:
        """Wait for the delivery to end (at most DELIVERY_DRAIN_S); when each alert arrived
        (transaction id: wall-clock ms)."""
        self.stop_at = time.time() + DELIVERY_DRAIN_S
        self.thread.join()
        self.receiver.__exit__()
        if self.error is not None:
            raise self.error
        return {
            body["transaction_id"]: self.receiver.received.arrived_ms[body["alert_id"]]
            for body in self.receiver.received.taken
        }


def _live_end(spark: SparkSession, thread: threading.Thread) -> float:
    """Wait for the engine; the moment its live fraud-alerts query stopped (what it emitted
    from then on is the closing of the run's reports, not live)."""
    ended = math.inf
    while thread.is_alive():
        live = any(q.name == "fraud-alerts" for q in spark.streams.active)
        if not live and ended == math.inf:
            ended = time.time()
        elif live:
            ended = math.inf
        thread.join(0.2)
    return ended if ended != math.inf else time.time()


def _first_alerts(messages: list[Message]) -> dict[str, int]:
    """Each alerted transaction's first alert time (ms)."""
    first: dict[str, int] = {}
    for ts, _key, value in sorted(messages, key=lambda m: m[0]):
        for t in orjson.loads(value)["transactions"]:
            first.setdefault(t["transaction_id"], ts)
    return first


def _latency_figures(
    bootstrap: str,
    timed: dict[str, str],
    speed: float,
    window: tuple[float, float],
    live_end: float,
    arrived: dict[str, int] | None = None,
) -> dict[str, Any]:
    sent: dict[str, tuple[int, int]] = {}  # transaction id: (Kafka time ms, event time s)
    for ts, _key, value in asyncio.run(read_topic(bootstrap, timed["transactions"])):
        if window[0] * 1000 <= ts <= window[1] * 1000:
            record = orjson.loads(value)
            sent.setdefault(record["transaction_id"], (ts, record["ts"]))
    scored: dict[str, int] = {}
    for ts, _key, value in asyncio.run(read_topic(bootstrap, timed["scores"])):
        scored.setdefault(orjson.loads(value)["transaction_id"], ts)
    alerted = _first_alerts(asyncio.run(read_topic(bootstrap, timed["fraud-alerts"])))

    score_lat = sorted((sent[t][0], (scored[t] - sent[t][0]) / 1000) for t in sent if t in scored)
    live = [t for t in sent if t in alerted and alerted[t] < live_end * 1000]
    at_close = sum(1 for t in sent if t in alerted and alerted[t] >= live_end * 1000)
    alert_lat = [(alerted[t] - sent[t][0]) / 1000 for t in live]
    floor = [(sent[t][1] // 10 * 10 + 10 + WINDOW_WAIT_S - sent[t][1]) / speed for t in live]
    beyond = [a - f for a, f in zip(alert_lat, floor, strict=True)]
    # the trend of the score latency along the run: about 0 while the engine keeps up
    growth = math.nan
    if len(score_lat) > 10:
        x = np.array([w for w, _ in score_lat]) / 1000
        growth = float(np.polyfit(x - x[0], np.array([lat for _, lat in score_lat]), 1)[0])
    unscored = len(sent) - len(score_lat)
    delivered: dict[str, Any] = {}
    if arrived is not None:
        reached = [t for t in live if t in arrived]
        delivered = {
            "webhook_alerts": len(reached),
            "webhook_missing": len(live) - len(reached),
            "alert_to_webhook_ms": _p50_p99([float(arrived[t] - alerted[t]) for t in reached]),
            "produce_to_webhook_s": _p50_p99([(arrived[t] - sent[t][0]) / 1000 for t in reached]),
        }
    return {
        "transactions_measured": len(sent),
        "scored": len(score_lat),
        "score_latency_s": _p50_p99([lat for _, lat in score_lat]),
        "score_latency_growth_s_per_s": round(growth, 4),
        "kept_up": bool(growth <= GROWTH_LIMIT) and unscored == 0,
        "alerted": len(live),
        "alerted_only_when_closing": at_close,
        "alert_latency_s": _p50_p99(alert_lat),
        "alert_wait_floor_s": _p50_p99(floor),
        "alert_latency_beyond_floor_s": _p50_p99(beyond),
        **delivered,
    }


def _p50_p99(values: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(values, 50), 3), "p99": round(percentile(values, 99), 3)}


def _count(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:,.0f}"


def print_latency(runs: list[dict[str, Any]]) -> None:
    """The latency table, and what each run's figures mean when the engine fell behind."""
    print("latency from a transaction's arrival in Kafka (s), model pipeline, engine live")
    print(
        "  target/s  input/s  engine/s  kept up  scored p50 / p99   alerted  alert p50 / p99"
        "   (wait floor p50; beyond it p50 / p99)"
    )
    for r in runs:
        s, a = r["score_latency_s"], r["alert_latency_s"]
        fl, b = r["alert_wait_floor_s"], r["alert_latency_beyond_floor_s"]
        print(
            f"  {r['target_events_per_s']:>8,}  {r['achieved_events_per_s']:>7,}  "
            f"{_count(r['engine_events_per_s']):>8}  {'yes' if r['kept_up'] else 'NO':<7}  "
            f"{s['p50']:>7.2f} / {s['p99']:<7.2f}  {r['alerted']:>7}  "
            f"{a['p50']:>6.2f} / {a['p99']:<7.2f}  "
            f"({fl['p50']:.2f}; {b['p50']:.2f} / {b['p99']:.2f})"
        )
        if r["achieved_events_per_s"] < 0.9 * r["target_events_per_s"]:
            print(
                f"    the producer reached only {r['achieved_events_per_s']:,} events/s: it "
                "simulates and sends every event in one Python thread, on the engine's cores"
            )
        if not r["kept_up"]:
            unscored = r["transactions_measured"] - r["scored"]
            pace, behind = r["engine_pace"], r["behind_at_producer_end_s"]
            print(
                "    the engine could not keep up: it got through "
                f"{'-' if pace is None or pace != pace else f'{pace:.0%}'} of the input rate and "
                f"was {_count(behind)} s of input behind when the producer stopped; "
                f"{unscored:,} of the {r['transactions_measured']:,} "
                f"transactions measured were not scored {DRAIN_LIMIT_S:g} s later. Its "
                "latency grows with the run's length: these figures hold for this run only."
            )
        if "alert_to_webhook_ms" in r:
            w, e = r["alert_to_webhook_ms"], r["produce_to_webhook_s"]
            print(
                f"    to a local webhook: {r['webhook_alerts']} alerts "
                f"({r['webhook_missing']} missing), alert-to-webhook p50 / p99 "
                f"{w['p50']:.0f} / {w['p99']:.0f} ms; produce-to-webhook p50 / p99 "
                f"{e['p50']:.2f} / {e['p99']:.2f} s"
            )
        if r["alerted_only_when_closing"]:
            print(
                f"    {r['alerted_only_when_closing']} measured transactions were alerted only "
                "when the engine closed the run's windows (left out of the alert figures)"
            )


__all__ = ["latency_run", "percentile", "print_latency", "read_topic"]
