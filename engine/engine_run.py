"""One engine run as an object: start, one step per poll, close; what it keeps between steps are
its fields, and it talks to Kafka through one long-lived session (:class:`BlockingKafka`).

- :meth:`EngineRun.start` checks the run, announces the engine, starts Spark's Python workers
  beside the reads of the run's static data, and starts the scoring query
  (:func:`engine.job.start_scoring`); False when asked to stop first.
- :meth:`EngineRun.step` is one poll of the control loop: a failed query is one sentence, the
  queries' progress is shown and published, the live report queries start after the first
  scoring micro-batch, partitions gone quiet are reported complete up to the producer's
  promise, and, once every input record has been read, the frontier is closed out; False once
  the run's scoring is done.
- :meth:`EngineRun.close` stops the queries between micro-batches, writes the windows never
  written, counts what the engine did and announces how it ended.

The run's producer is followed through its run-events (:class:`engine.run_end.ProducerWatch`):
the whole topic is read once, then only what arrives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.accounting import EngineReport, count_results, produced_messages, query_progress
from engine.frontier import partition_key
from engine.frontier import report as frontier_report
from engine.inventory_report import (
    INVENTORY_TRIGGER_S,
    ForecastWriter,
    close_inventory_report,
    inventory_query,
)
from engine.job import (
    AVAILABLE_NOW_POLL_S,
    LIVE_MAX_OFFSETS,
    LIVE_POLL_S,
    PROGRESS_EVERY_S,
    REPORTS_WAIT_S,
    SCORES_TRIGGER_S,
    EngineOptions,
    EnginePlan,
    check_run,
    engine_details,
    input_topics,
    prepare_topics,
    session_table,
    start_scoring,
)
from engine.report_queries import (
    alerts_query,
    close_reports,
    read_products,
    top_products_query,
)
from engine.run_end import ProducerWatch, close_out, progress_reached, publish_report
from engine.scoring import ScorerFactory, model_explainer, model_scorer, start_python_workers
from fraudlab import codec
from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.errors import FraudlabError
from fraudlab.records import RunEvent, message_key
from fraudlab.run_events import run_event
from fraudlab.settings import Settings
from fraudlab.topics import topic_name
from models.demand import load_demand
from models.registry import load_model

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

Progress = Callable[[dict[str, Any]], None]

__all__ = ["EngineRun", "Progress"]


class EngineRun:
    """The engine of one run (see the module)."""

    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        options: EngineOptions,
        kafka: BlockingKafka,
        scorer: ScorerFactory | None = None,
    ) -> None:
        self.spark, self.settings, self.options, self.kafka = spark, settings, options, kafka
        self.started = time.monotonic()
        self.model = load_model(settings.models_dir, options.model_name)
        self.score = scorer or model_scorer(self.model)
        # a stand-in scorer (the benchmark's reference) has no trees to explain
        self.explain = None if scorer else model_explainer(self.model, settings.explanation_top)
        challenger = options.challenger_name
        self.challenger = (
            None if challenger is None else load_model(settings.models_dir, challenger)
        )
        self.topics = prepare_topics(options.run_id)
        self.inputs = input_topics(self.topics)
        self.producer = ProducerWatch(kafka, options.run_id)
        self.queries: list[StreamingQuery] = []
        self.products: DataFrame | None = None
        self.sessions: DataFrame | None = None
        # the inventory report's writer, when the model carries a demand model
        # (engine.inventory_report): built when first needed (live, with the report queries;
        # else at the close), off the way to the first scores
        self._forecasts: ForecastWriter | None = None
        self.partitions: list[str] = []
        # available-now: what is there at the start is the whole run; live: what the producer
        # left once it ended (both None until known)
        self.targets: dict[tuple[str, int], int] | None = None
        self.closed: dict[tuple[str, int], int] | None = None
        # live: when the fraud-alerts query starts at the latest (it starts once the first
        # scoring micro-batch is done), then when the other reports do (once its own first
        # micro-batch is done): None before and after
        self.reports_due: float | None = None
        self.later_reports_due: float | None = None
        self.alerts: StreamingQuery | None = None
        self.idle_at = 0  # the event time up to which idle partitions were reported complete
        self.last_published = 0.0

    # ---- start ---------------------------------------------------------------------------

    def start(self, should_stop: Callable[[], bool]) -> bool:
        """Start the run's scoring; False (the engine announced interrupted) if asked to stop
        first. Each step of the start takes seconds: a stop asked meanwhile is heard."""
        options, settings = self.options, self.settings
        # Spark's Python workers (forked, each loading the model: seconds) start on a thread of
        # their own while this one waits for the run's first events and reads its static data
        loaders = [self.score]
        if self.challenger is not None:
            loaders.append(model_scorer(self.challenger))
        workers = _Background(lambda: start_python_workers(self.spark, *loaders))
        check_run(self.kafka, settings, options, self.topics, should_stop)
        streams = (
            "scores",
            "fraud-alerts",
            "top-products",
            "inventory-forecast",
            "dead-letter",
            "run-events",
            # optional input (a dataset has no stock): the inventory report reads it anyway
            "inventory",
        )
        self.kafka.create_topics([self.topics[s] for s in streams], settings.topic_partitions)
        # one partition each: every bucket reads every report, and the rule changes in order
        self.kafka.create_topics([self.topics["frontier"], self.topics["rules"]], 1)
        plan = EnginePlan(
            self.spark,
            settings,
            options,
            self.model,
            self.topics,
            self.score,
            self.explain,
            self.challenger,
        )
        self.announce("started", engine_details(plan))
        waits = options.available_now and options.until_producer_ends
        if waits and self.producer.wait_for_end(should_stop) is None:
            return self.stopped_before_scoring()
        bootstrap = settings.bootstrap_servers
        self.products = read_products(self.spark, bootstrap, self.topics["product"])
        self.sessions = session_table(
            self.spark, self.kafka, bootstrap, self.topics["customer_session"]
        )
        self.partitions = sorted(
            partition_key(t, p) for t, p in self.kafka.end_offsets(self.inputs)
        )
        if should_stop():
            return self.stopped_before_scoring()
        workers.wait()
        if should_stop():
            return self.stopped_before_scoring()
        self.queries = [start_scoring(plan, self.partitions, self.sessions)]
        if options.available_now:
            self.targets = self.kafka.end_offsets(self.inputs)
        else:
            # live, the fraud-alerts query starts once the first scoring micro-batch (which
            # folds in every customer profile) is done, and the other reports once its own
            # first micro-batch is, rather than planning and reading beside it:
            # on two cores a fresh JVM's first windowed aggregations compete with that batch
            # and delay the first alert (measured: 33 s started beside it, as after it). They
            # read the scores from the start, so nothing is missed.
            self.reports_due = time.monotonic() + REPORTS_WAIT_S
        return True

    @property
    def forecasts(self) -> ForecastWriter | None:
        """The inventory report's writer, built at the first call (the products' names are a
        Spark job): when the setting allows it and the model carries a demand model."""
        if self._forecasts is not None or not self.settings.engine_inventory_report:
            return self._forecasts
        demand = load_demand(self.model.folder)
        if demand is None:
            return None
        assert self.products is not None
        names = {
            str(r["id"]): str(r["productDisplayName"] or "")
            for r in self.products.select("id", "productDisplayName").collect()
        }
        self._forecasts = ForecastWriter(demand[0], names, demand[1])
        return self._forecasts

    def stopped_before_scoring(self) -> bool:
        self.announce("interrupted", {"scored": 0})
        return False

    # ---- one step ------------------------------------------------------------------------

    def step(self, progress: Progress | None = None) -> bool:
        """One poll of the control loop; False once the run's scoring is done."""
        if not any(q.isActive for q in self.queries):
            return False
        self.check_queries()
        figures = {"queries": [query_progress(q) for q in self.queries]}
        if progress is not None:
            progress(figures)
        if time.monotonic() - self.last_published >= PROGRESS_EVERY_S:
            # on the run's run-events topic, where the archive and the views read it
            self.announce("progress", figures)
            self.last_published = time.monotonic()
        scoring = self.queries[0].lastProgress
        if self.reports_due is not None and (
            scoring is not None or time.monotonic() > self.reports_due
        ):
            self.start_alerts()
        elif self.later_reports_due is not None and (
            (self.alerts is not None and self.alerts.lastProgress is not None)
            or time.monotonic() > self.later_reports_due
        ):
            self.start_later_reports()
        options = self.options
        follow = options.until_producer_ends or options.available_now
        live_hold = options.hold and self.closed is None and not options.available_now
        if (follow and self.targets is None) or live_hold:
            self.producer.refresh()
        if live_hold:
            self.report_quiet_partitions(scoring)
        if follow:
            if self.targets is None and self.producer.ending is not None:
                self.targets = self.kafka.end_offsets(self.inputs)
            if (
                self.closed is None
                and self.targets is not None
                and progress_reached(scoring, self.targets)
            ):
                if not options.hold:
                    return False
                # every input record read: nothing more can arrive before the frontier
                self.closed = close_out(self.kafka, options.run_id)
            if self.closed is not None and progress_reached(scoring, self.closed):
                return False
        return True

    @property
    def poll_s(self) -> float:
        """Seconds between two steps: short available-now, and live while report queries wait
        to start (each starts at the first step after the micro-batch it waits for, and the
        first alert waits for them)."""
        waiting = self.reports_due is not None or self.later_reports_due is not None
        if self.options.available_now or waiting:
            return AVAILABLE_NOW_POLL_S
        return LIVE_POLL_S

    def check_queries(self) -> None:
        """A query that failed ends the engine in one sentence."""
        for q in self.queries:
            if q.exception() is not None:
                first = str(q.exception()).strip().splitlines()[0][:300]
                raise FraudlabError(f"the {q.name} query failed: {first}")

    def start_alerts(self) -> None:
        """Start the live fraud-alerts query. It starts alone: on two cores, a fresh JVM's
        first windowed aggregations compete with each other and with the scoring (measured:
        the alerts query's first micro-batch, which reads nothing yet, took 5.6 s beside the
        top-products query's, 2.5 to 2.7 s alone); the other reports wait for its first
        micro-batch."""
        options = self.options
        self.alerts = alerts_query(
            self.spark,
            self.settings.bootstrap_servers,
            options.speed,
            self.topics,
            self.checkpoints,
            options.run_id,
        )
        self.queries.append(self.alerts)
        self.reports_due = None
        self.later_reports_due = time.monotonic() + REPORTS_WAIT_S

    def start_later_reports(self) -> None:
        """Start the live top-products query, and the live inventory report when asked for.
        They read the scores from the start: starting later misses nothing."""
        assert self.products is not None
        bootstrap, checkpoints = self.settings.bootstrap_servers, self.checkpoints
        options = self.options
        self.queries.append(
            top_products_query(
                self.spark,
                bootstrap,
                options.speed,
                self.topics,
                self.products,
                checkpoints,
                options.run_id,
            )
        )
        if self.settings.engine_inventory_live and self.forecasts is not None:
            self.queries.append(
                inventory_query(
                    self.spark,
                    bootstrap,
                    options.speed,
                    self.topics,
                    self.forecasts,
                    checkpoints,
                    options.run_id,
                    # its trigger is three of the scoring query's: three micro-batches' worth
                    (options.max_offsets_per_trigger or LIVE_MAX_OFFSETS)
                    * round(INVENTORY_TRIGGER_S / SCORES_TRIGGER_S),
                )
            )
        self.later_reports_due = None

    @property
    def checkpoints(self) -> Path:
        """The run's checkpoint folder."""
        return self.settings.checkpoint_dir / self.options.run_id

    def report_quiet_partitions(self, scoring: dict[str, Any] | None) -> None:
        """Caught up with a producer whose every record before its promise is in Kafka: the
        partitions that went quiet are complete up to it, so nothing waits on them."""
        reached = self.producer.reached
        if reached is None or reached <= self.idle_at:
            return
        if progress_reached(scoring, self.kafka.end_offsets(self.inputs)):
            idle = frontier_report(dict.fromkeys(self.partitions, reached))
            publish_report(self.kafka, self.options.run_id, idle)
            self.idle_at = reached

    # ---- close ---------------------------------------------------------------------------

    def close(self, status: str) -> EngineReport:
        """Stop the queries, write the windows never written (unless nothing was scored or it
        failed), count what the engine did and announce ``status``."""
        for q in self.queries:
            _stop_between_batches(q)
        report = EngineReport(self.options.run_id)
        if not self.queries:
            report.produced = produced_messages(self.kafka, self.topics)
            report.wall_s = time.monotonic() - self.started
            return report
        scored_any = any(p.get("numInputRows") for p in self.queries[0].recentProgress)
        if self.products is not None and (
            status == "finished" or (status == "interrupted" and scored_any)
        ):
            # close every window, the run's last ones included
            bootstrap, run_id = self.settings.bootstrap_servers, self.options.run_id
            close_reports(self.spark, bootstrap, self.topics, self.products, run_id)
            if self.forecasts is not None:
                close_inventory_report(self.spark, bootstrap, self.topics, self.forecasts, run_id)
        try:
            count_results(self.spark, self.settings, report, self.topics, self.kafka)
        finally:
            report.wall_s = time.monotonic() - self.started
            self.announce(
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
            )
        return report

    def announce(self, event: str, details: dict[str, Any]) -> None:
        """Publish one of the engine's run-events and wait until the broker has it."""
        record = run_event(self.options.run_id, "engine", event, details)
        topic = topic_name(self.options.run_id, RunEvent.STREAM)
        self.kafka.send(topic, message_key(record), codec.encode(record))


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


def _stop_between_batches(query: StreamingQuery, wait_s: float = 30.0) -> None:
    """Stop ``query``, waiting (up to ``wait_s``) for a micro-batch in progress to end first: a
    ``foreachBatch`` query interrupted inside its Python function fails on the way out with an
    error Spark cannot even print (its stop check runs a regex over the whole Py4J message)."""
    deadline = time.monotonic() + wait_s
    while query.isActive and query.status["isTriggerActive"] and time.monotonic() < deadline:
        time.sleep(0.05)
    if query.isActive:
        query.stop()
