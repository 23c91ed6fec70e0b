"""The engine of one run: its streaming queries, how they are triggered, and what they report.

Queries (each with its own checkpoint under ``<checkpoint_dir>/<run_id>/``):
  scoring       every input record read and parsed once (:mod:`engine.scoring`) -> scores,
                dead letters (unparseable values, late records, duplicate deliveries) and
                frontier reports (:mod:`engine.frontier`, read back by the same query)
  fraud-alerts  live only: sliding 2-minute windows of potential fraud, every 10 s
  top-products  live only: the top 20 products of each 30 s window
Live, the report queries read the scores topic with processing-time triggers of 10 s and 30 s
divided by the run's speed. With ``available_now`` the scoring query processes everything
present at its start in micro-batches cut by offsets (on short processing-time triggers), then
the engine closes the run's frontier out, so that nothing stays held, and stops; both reports
are then computed over all the scores as batch frames, so every window, the last ones included,
is closed. A restarted engine continues from its checkpoints.

Next to a producer that is still running (``until_producer_ends``), available-now first waits for
the producer's end; live stops once its queries have read what the producer left and the
close-out (:mod:`engine.run_end`). Either way the reports are then closed over all the scores.
Live, once the engine has read everything there is, the producer's last progress event moves the
frontier on over partitions that went quiet.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.accounting import (
    INPUT_STREAMS,
    EngineReport,
    count_results,
    produced_messages,
    query_progress,
)
from engine.bucket_fold import ModelStamp
from engine.checkpoints import record_state_buckets
from engine.frontier import frontier_topic, partition_key
from engine.frontier import report as frontier_report
from engine.report_queries import (
    ALERTS_TRIGGER_S,
    close_reports,
    read_products,
    report_queries,
    sink_query,
)
from engine.run_end import (
    close_out,
    producer_state,
    progress_reached,
    publish_report,
    wait_for_producer,
)
from engine.scoring import (
    LATENESS,
    ScorerFactory,
    model_scorer,
    scoring_rows,
    start_python_workers,
)
from engine.sources import kafka_batch, kafka_stream
from fraudlab.broker import require_broker
from fraudlab.errors import FraudlabError, UsageError
from fraudlab.kafka_io import create_topics, end_offsets, list_topics
from fraudlab.record_parsing import session_customers
from fraudlab.records import Score
from fraudlab.run_events import announce_now, run_event
from fraudlab.settings import Settings
from fraudlab.topics import topic_name
from models.registry import load_model

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

RESULT_STREAMS = ("scores", "fraud-alerts", "top-products", "dead-letter")
# The scoring query's live trigger at speed 1 (divided by the speed of a faster run): the fraud
# report's period (engine.report_queries). A fresher score would not bring an alert earlier (a
# window is reported once the watermark passes its end), and every micro-batch has a fixed cost
# on a small machine (state store, per-customer fold, Kafka commit) that a shorter trigger pays
# more often.
SCORES_TRIGGER_S = ALERTS_TRIGGER_S
PROGRESS_EVERY_S = 10.0
# the longest the report queries wait for the first scoring micro-batch before they start
REPORTS_WAIT_S = 60.0
# Browsing and transaction records per micro-batch at most. Live, a micro-batch holds what
# arrived during one trigger; available-now, a backlog is cut into micro-batches, and larger
# ones cost less per record: the fixed cost of a micro-batch (planning, state commit, offsets)
# is about a second on two cores.
LIVE_MAX_OFFSETS, AVAILABLE_NOW_MAX_OFFSETS = 20_000, 200_000
# available-now: how often the scoring query looks for more input once it has caught up
AVAILABLE_NOW_TRIGGER_S = 1.0

Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class EngineOptions:
    """How to run the engine for one run."""

    run_id: str
    model_name: str = "default"
    available_now: bool = False
    speed: float = 1.0
    # None: LIVE_MAX_OFFSETS live, AVAILABLE_NOW_MAX_OFFSETS available-now
    max_offsets_per_trigger: int | None = None
    wait_for_events_s: float = 600.0
    # stop by itself once the run's producer has ended and its input is read (see engine.run_end)
    until_producer_ends: bool = False
    # hold records until the frontier passes them (engine.frontier); False scores each
    # transaction in the micro-batch it arrives in, so that its features depend on the cuts
    # (a reference for the benchmark)
    hold: bool = True


def _topics(run_id: str) -> dict[str, str]:
    streams = (*INPUT_STREAMS, "product", "customer_session", *RESULT_STREAMS, "rules")
    return {s: topic_name(run_id, s) for s in streams}


def _check_run(
    settings: Settings,
    run_id: str,
    topics: dict[str, str],
    wait_s: float,
    should_stop: Callable[[], bool] | None,
    producer_starting: bool = False,
) -> None:
    """Wait (up to ``wait_s``) until the run's first browsing event is in Kafka: the producer
    flushes static data before the first event, so customers and products are complete then.
    A run whose topics do not exist is refused in one sentence, unless ``producer_starting``
    (the engine of ``fraudlab run`` starts beside its producer, which creates them)."""
    require_broker(settings.bootstrap_servers)
    needed = ("browsing", "transactions", "customer", "product")
    deadline = time.monotonic() + wait_s
    while True:
        existing = set(asyncio.run(list_topics(settings.bootstrap_servers)))
        missing = [topics[s] for s in needed if topics[s] not in existing]
        if missing and not producer_starting:
            raise UsageError(
                f"run {run_id} has no {', '.join(m.rsplit('.', 1)[1] for m in missing)} topic "
                f"at {settings.bootstrap_servers}: produce it first "
                f"(fraudlab produce SCENARIO --run-id {run_id} ...)."
            )
        if not missing:
            ends = asyncio.run(end_offsets(settings.bootstrap_servers, [topics["browsing"]]))
            if sum(ends.values()) > 0:
                return
        if time.monotonic() > deadline:
            raise FraudlabError(f"run {run_id} has produced no browsing event in {wait_s:.0f} s.")
        if should_stop is not None and should_stop():
            raise KeyboardInterrupt
        time.sleep(0.25)


def _session_customers(spark: SparkSession, bootstrap: str, topic: str) -> DataFrame | None:
    """Which customer each session of the run belongs to, for browsing records without a
    customer_id (:func:`fraudlab.record_parsing.session_customers`), read once: static data is
    complete once the first event is there. None when the run has no customer_session records."""
    if topic not in asyncio.run(list_topics(bootstrap)):
        return None
    if not sum(asyncio.run(end_offsets(bootstrap, [topic])).values()):
        return None
    return session_customers(kafka_batch(spark, bootstrap, [topic])).cache()


class _Background:
    """A step of the engine's start run on a thread of its own; ``wait`` gives its error."""

    def __init__(self, step: Callable[[], None]) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(step,), daemon=True)
        self._thread.start()

    def _run(self, step: Callable[[], None]) -> None:
        try:
            step()
        except BaseException as exc:  # handed to the engine's own thread by wait()
            self._error = exc

    def wait(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def run_engine(
    spark: SparkSession,
    settings: Settings,
    options: EngineOptions,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    scorer: ScorerFactory | None = None,
) -> EngineReport:
    """Run the engine for ``options.run_id`` until done (available-now) or told to stop.

    ``scorer`` replaces the model's booster (the benchmark's constant-score reference); the
    scores still name the model.
    """
    started = time.monotonic()
    model = load_model(settings.models_dir, options.model_name)
    topics = {**_topics(options.run_id), "frontier": frontier_topic(options.run_id)}
    score = scorer or model_scorer(model)
    # Spark's Python workers (forked, each loading the model: seconds) start on a thread of
    # their own while this one waits for the run's first events and reads its static data
    workers = _Background(lambda: start_python_workers(spark, score))
    _check_run(
        settings,
        options.run_id,
        topics,
        options.wait_for_events_s,
        should_stop,
        producer_starting=options.until_producer_ends,
    )
    bootstrap = settings.bootstrap_servers
    asyncio.run(
        create_topics(bootstrap, [topics[s] for s in RESULT_STREAMS], settings.topic_partitions)
    )
    # one partition each: every bucket reads every report, and the rule changes in log order
    asyncio.run(create_topics(bootstrap, [topics["frontier"], topics["rules"]], 1))
    stamp = ModelStamp(model.name, model.digest, model.threshold)
    checkpoints = settings.checkpoint_dir / options.run_id
    buckets = settings.engine_state_buckets
    max_offsets = options.max_offsets_per_trigger or (
        AVAILABLE_NOW_MAX_OFFSETS if options.available_now else LIVE_MAX_OFFSETS
    )
    record_state_buckets(checkpoints, options.run_id, buckets)
    details = {
        "model_name": model.name,
        "model_digest": model.digest,
        "engine_settings": {
            "available_now": options.available_now,
            "speed": options.speed,
            "spark_master": settings.spark_master,
            "shuffle_partitions": settings.spark_shuffle_partitions,
            "max_offsets_per_trigger": max_offsets,
            "lateness": LATENESS,
            "state_store": "rocksdb",
            "state_buckets": buckets,
            "hold": options.hold,
        },
    }
    announce_now(
        bootstrap,
        settings.topic_partitions,
        run_event(options.run_id, "engine", "started", details),
    )

    def stopped_before_scoring() -> EngineReport:
        announce_now(
            bootstrap,
            settings.topic_partitions,
            run_event(options.run_id, "engine", "interrupted", {"scored": 0}),
        )
        report = EngineReport(options.run_id, wall_s=time.monotonic() - started)
        report.produced = produced_messages(bootstrap, topics)
        return report

    def stop_asked() -> bool:
        return should_stop is not None and should_stop()

    if (
        options.available_now
        and options.until_producer_ends
        and wait_for_producer(bootstrap, options.run_id, should_stop) is None
    ):
        return stopped_before_scoring()
    products = read_products(spark, bootstrap, topics["product"])
    # available-now runs with short processing-time triggers until it has read everything there
    # was, so that the frontier reports of one micro-batch reach the next, then closes out
    every = {
        "processingTime": (
            f"{AVAILABLE_NOW_TRIGGER_S:.3f} seconds"
            if options.available_now
            else f"{max(SCORES_TRIGGER_S / options.speed, 0.5):.3f} seconds"
        )
    }
    inputs = [topics["browsing"], topics["transactions"]]
    raw = kafka_stream(spark, bootstrap, inputs, max_offsets).unionByName(
        kafka_stream(spark, bootstrap, [topics["customer"]])
    )
    reports = kafka_stream(spark, bootstrap, [topics["frontier"]])
    rules = kafka_stream(spark, bootstrap, [topics["rules"]])
    partitions = sorted(partition_key(t, p) for t, p in asyncio.run(end_offsets(bootstrap, inputs)))
    if stop_asked():  # each step of the start takes seconds: a stop asked meanwhile is heard
        return stopped_before_scoring()
    workers.wait()
    if stop_asked():
        return stopped_before_scoring()
    # available-now reads a backlog in large micro-batches: each bucket sees every partition
    # move on, and the close-out frees the rest, so buckets share no progress (a report of the
    # last micro-batch would cost one more)
    sessions = _session_customers(spark, bootstrap, topics["customer_session"])
    rows = scoring_rows(
        raw,
        topics,
        stamp,
        score,
        buckets,
        reports,
        partitions,
        share=not options.available_now,
        sessions=sessions,
        rules=rules,
    )
    queries = [sink_query(rows, "scoring", checkpoints, bootstrap, every)]
    # live, the report queries start once the first scoring micro-batch (which folds in every
    # customer profile) is done, rather than planning and reading beside it: on two cores a
    # fresh JVM's first windowed aggregations compete with that batch and delay the first
    # alert (measured: 33 s started beside it, as after it). They read the scores from the
    # start, so nothing is missed.
    reports_due: float | None = None if options.available_now else time.monotonic() + REPORTS_WAIT_S
    status = "finished"
    last_published = 0.0
    follow = options.until_producer_ends or options.available_now
    # available-now: what is there now is the whole run; live: what the producer left
    targets = asyncio.run(end_offsets(bootstrap, inputs)) if options.available_now else None
    closed: dict[tuple[str, int], int] | None = None
    idle_at = 0  # the event time up to which the engine reported idle partitions complete
    try:
        while any(q.isActive for q in queries):
            for q in queries:
                if q.exception() is not None:
                    raise FraudlabError(
                        f"the {q.name} query failed: "
                        f"{str(q.exception()).strip().splitlines()[0][:300]}"
                    )
            figures = {"queries": [query_progress(q) for q in queries]}
            if progress is not None:
                progress(figures)
            if time.monotonic() - last_published >= PROGRESS_EVERY_S:
                # on the run's run-events topic, where the archive and the views read it
                announce_now(
                    bootstrap,
                    settings.topic_partitions,
                    run_event(options.run_id, "engine", "progress", figures),
                )
                last_published = time.monotonic()
            if should_stop is not None and should_stop():
                status = "interrupted"
                break
            scoring = queries[0].lastProgress
            if reports_due is not None and (scoring is not None or time.monotonic() > reports_due):
                queries.extend(
                    report_queries(
                        spark,
                        bootstrap,
                        options.speed,
                        topics,
                        products,
                        checkpoints,
                        options.run_id,
                    )
                )
                reports_due = None
            ending, reached = (None, None)
            live_hold = options.hold and closed is None and not options.available_now
            if (follow and targets is None) or live_hold:
                ending, reached = producer_state(bootstrap, options.run_id)
            # caught up with a producer whose every record before `reached` is in Kafka: the
            # partitions that went quiet are complete up to it, so nothing waits on them
            if (
                live_hold
                and reached is not None
                and reached > idle_at
                and progress_reached(scoring, asyncio.run(end_offsets(bootstrap, inputs)))
            ):
                idle = frontier_report(dict.fromkeys(partitions or (), reached))
                publish_report(bootstrap, options.run_id, idle)
                idle_at = reached
            if follow:
                if targets is None and ending is not None:
                    targets = asyncio.run(end_offsets(bootstrap, inputs))
                if closed is None and targets is not None and progress_reached(scoring, targets):
                    if not options.hold:
                        break
                    # every input record read: nothing more can arrive before the frontier
                    closed = close_out(bootstrap, options.run_id)
                if closed is not None and progress_reached(scoring, closed):
                    break
            time.sleep(0.25 if options.available_now else 2.0)
        for q in queries:
            if q.exception() is not None:
                raise FraudlabError(
                    f"the {q.name} query failed: {str(q.exception()).strip().splitlines()[0][:300]}"
                )
    except BaseException:
        status = "failed" if status == "finished" else status
        raise
    finally:
        for q in queries:
            _stop_between_batches(q)
        scored_any = any(p.get("numInputRows") for p in queries[0].recentProgress)
        if status == "finished" or (status == "interrupted" and scored_any):
            # close every window, the run's last ones included
            close_reports(spark, bootstrap, topics, products, options.run_id)
        report = EngineReport(options.run_id)
        try:
            count_results(spark, settings, report, topics)
        finally:
            report.wall_s = time.monotonic() - started
            announce_now(
                bootstrap,
                settings.topic_partitions,
                run_event(
                    options.run_id,
                    "engine",
                    status,
                    {
                        "scored": report.scored,
                        "dropped_late": report.dropped_late,
                        "duplicates": report.duplicates,
                        "after_frontier": report.after_frontier,
                        "dead_lettered": report.dead_lettered,
                        "conflicts": report.conflicts,
                        "fraud_alert_windows": report.fraud_alert_windows,
                        "wall_s": round(report.wall_s, 1),
                    },
                ),
            )
    return report


__all__ = ["EngineOptions", "EngineReport", "Score", "run_engine"]


def _stop_between_batches(query: StreamingQuery, wait_s: float = 30.0) -> None:
    """Stop ``query``, waiting (up to ``wait_s``) for a micro-batch in progress to end first: a
    ``foreachBatch`` query interrupted inside its Python function fails on the way out with an
    error Spark cannot even print (its stop check runs a regex over the whole Py4J message)."""
    deadline = time.monotonic() + wait_s
    while query.isActive and query.status["isTriggerActive"] and time.monotonic() < deadline:
        time.sleep(0.05)
    if query.isActive:
        query.stop()
