"""The engine of one run: its Spark plan, its queries, how they are triggered and what they report.

Queries (each with its own checkpoint under ``<checkpoint_dir>/<run_id>/``):
  scoring       every input record read and parsed once (:mod:`engine.scoring`) -> scores,
                dead letters (unparseable values, late records, duplicate deliveries, ids
                claimed by a second customer) and frontier reports (:mod:`engine.frontier`,
                read back by the same query)
  fraud-alerts  live only: sliding 2-minute windows of potential fraud, every 10 s
  top-products  live only: the top 20 products of each 30 s window
  inventory-forecast  live only, when the model carries a demand forecast: each 30 s window's
                counts of browsing, sales and stock, forecast on the driver
                (:mod:`engine.inventory_report`)
Live, the report queries read the scores topic with processing-time triggers of 10 s and 30 s
divided by the run's speed. With ``available_now`` the scoring query processes everything
present at its start in micro-batches cut by offsets (on short processing-time triggers), then
the engine closes the run's frontier out, so that nothing stays held, and stops; both reports
are then computed over all the scores as batch frames, so every window, the last ones included,
is closed (and the inventory report's windows never written). A restarted engine continues
from its checkpoints.

Next to a producer that is still running (``until_producer_ends``), available-now first waits for
the producer's end; live stops once its queries have read what the producer left and the
close-out (:mod:`engine.run_end`). Either way the reports are then closed over all the scores.
Live, once the engine has read everything there is, the producer's last progress event moves the
frontier on over partitions that went quiet. The control loop is
:class:`engine.engine_run.EngineRun`; this module holds the plan it starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.accounting import INPUT_STREAMS, EngineReport
from engine.checkpoints import record_state_buckets
from engine.frontier import frontier_topic
from engine.report_queries import ALERTS_TRIGGER_S, sink_query
from engine.scoring import (
    LATENESS,
    ExplainerFactory,
    ScorerFactory,
    model_challenger,
    scoring_rows,
)
from engine.sources import kafka_batch, kafka_stream
from engine.verdicts import ModelStamp
from features.location import CELL_FEATURES
from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.errors import FraudlabError, UsageError
from fraudlab.record_parsing import session_customers
from fraudlab.records import Score
from fraudlab.settings import Settings
from fraudlab.topics import topic_name

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from models.registry import SavedModel

RESULT_STREAMS = ("scores", "fraud-alerts", "top-products", "inventory-forecast", "dead-letter")
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
# seconds between two steps of the control loop
AVAILABLE_NOW_POLL_S, LIVE_POLL_S = 0.25, 2.0

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
    # a second saved model scored beside the first in the same fold call (engine.verdicts)
    challenger_name: str | None = None


@dataclass(frozen=True)
class EnginePlan:
    """What the scoring query is built from: the session, the run's options, its model (and
    the scorer that stands for it, and what explains its scores), the challenger scored beside
    it, and its topics by stream."""

    spark: SparkSession
    settings: Settings
    options: EngineOptions
    model: SavedModel
    topics: dict[str, str]
    score: ScorerFactory
    explain: ExplainerFactory | None = None
    challenger: SavedModel | None = None

    @property
    def max_offsets(self) -> int:
        options = self.options
        return options.max_offsets_per_trigger or (
            AVAILABLE_NOW_MAX_OFFSETS if options.available_now else LIVE_MAX_OFFSETS
        )

    @property
    def trigger(self) -> dict[str, str]:
        """Available-now runs with short processing-time triggers until it has read everything
        there was, so that the frontier reports of one micro-batch reach the next, then closes
        out; live, the fraud report's period divided by the speed."""
        every = (
            AVAILABLE_NOW_TRIGGER_S
            if self.options.available_now
            else max(SCORES_TRIGGER_S / self.options.speed, 0.5)
        )
        return {"processingTime": f"{every:.3f} seconds"}


def prepare_topics(run_id: str) -> dict[str, str]:
    """The run's topics by stream, the engine-internal frontier topic among them."""
    streams = (
        *INPUT_STREAMS,
        "product",
        "customer_session",
        "inventory",
        *RESULT_STREAMS,
        "rules",
    )
    return {
        **{s: topic_name(run_id, s) for s in (*streams, "run-events")},
        "frontier": frontier_topic(run_id),
    }


def input_topics(topics: dict[str, str]) -> list[str]:
    """The topics the frontier waits for: the run's browsing and transactions."""
    return [topics["browsing"], topics["transactions"]]


def check_run(
    kafka: BlockingKafka,
    settings: Settings,
    options: EngineOptions,
    topics: dict[str, str],
    should_stop: Callable[[], bool],
) -> None:
    """Wait (up to ``options.wait_for_events_s``) until the run's first browsing event is in
    Kafka: the producer flushes static data before the first event, so customers and products
    are complete then. A run whose topics do not exist is refused in one sentence, unless the
    engine waits for its producer (the engine of ``fraudlab run`` starts beside its producer,
    which creates them)."""
    kafka.require_answer()
    needed = ("browsing", "transactions", "customer", "product")
    wait_s = options.wait_for_events_s
    deadline = time.monotonic() + wait_s
    while True:
        existing = set(kafka.topics())
        missing = [topics[s] for s in needed if topics[s] not in existing]
        if missing and not options.until_producer_ends:
            raise UsageError(
                f"run {options.run_id} has no "
                f"{', '.join(m.rsplit('.', 1)[1] for m in missing)} topic "
                f"at {settings.bootstrap_servers}: produce it first "
                f"(fraudlab produce SCENARIO --run-id {options.run_id} ...)."
            )
        if not missing and sum(kafka.end_offsets([topics["browsing"]]).values()) > 0:
            return
        if time.monotonic() > deadline:
            raise FraudlabError(
                f"run {options.run_id} has produced no browsing event in {wait_s:.0f} s."
            )
        if should_stop():
            raise KeyboardInterrupt
        time.sleep(0.25)


def engine_details(plan: EnginePlan) -> dict[str, Any]:
    """What the engine's ``started`` run-event says it runs with."""
    settings, options = plan.settings, plan.options
    challenger = plan.challenger
    return {
        "model_name": plan.model.name,
        "model_digest": plan.model.digest,
        **(
            {}
            if challenger is None
            else {"challenger_name": challenger.name, "challenger_digest": challenger.digest}
        ),
        "engine_settings": {
            "available_now": options.available_now,
            "speed": options.speed,
            "spark_master": settings.spark_master,
            "shuffle_partitions": settings.spark_shuffle_partitions,
            "max_offsets_per_trigger": plan.max_offsets,
            "lateness": LATENESS,
            "state_store": "rocksdb",
            "state_buckets": settings.engine_state_buckets,
            "hold": options.hold,
            "location_state": location_state(plan),
            "location_cell_resolution": cell_resolution(plan.model, settings),
        },
    }


def session_table(
    spark: SparkSession, kafka: BlockingKafka, bootstrap: str, topic: str
) -> DataFrame | None:
    """Which customer each session of the run belongs to, for browsing records without a
    customer_id (:func:`fraudlab.record_parsing.session_customers`), read once: static data is
    complete once the first event is there. None when the run has no customer_session records."""
    if not sum(kafka.end_offsets([topic]).values()):
        return None
    return session_customers(kafka_batch(spark, bootstrap, [topic])).cache()


def start_scoring(
    plan: EnginePlan, partitions: list[str], sessions: DataFrame | None
) -> StreamingQuery:
    """Start the scoring query of ``plan``; ``partitions`` are the run's input partitions
    (``topic:partition``) the frontier waits for, ``sessions`` the run's
    :func:`session_table`."""
    spark, settings, options, topics = plan.spark, plan.settings, plan.options, plan.topics
    bootstrap = settings.bootstrap_servers
    checkpoints = settings.checkpoint_dir / options.run_id
    buckets = settings.engine_state_buckets
    record_state_buckets(checkpoints, options.run_id, buckets)
    raw = kafka_stream(spark, bootstrap, input_topics(topics), plan.max_offsets).unionByName(
        kafka_stream(spark, bootstrap, [topics["customer"]])
    )
    model = plan.model
    rows = scoring_rows(
        raw,
        topics,
        ModelStamp(model.name, model.digest, model.threshold),
        plan.score,
        buckets,
        kafka_stream(spark, bootstrap, [topics["frontier"]]),
        partitions,
        # available-now reads a backlog in large micro-batches: each bucket sees every
        # partition move on, and the close-out frees the rest, so buckets share no progress
        # (a report of the last micro-batch would cost one more)
        share=not options.available_now,
        sessions=sessions,
        explainer=plan.explain,
        explain_every=plan.settings.explain_every_score,
        challenger=None if plan.challenger is None else model_challenger(plan.challenger),
        rules=kafka_stream(spark, bootstrap, [topics["rules"]]),
        cells=location_state(plan),
        resolution=cell_resolution(plan.model, settings),
    )
    return sink_query(rows, "scoring", checkpoints, bootstrap, plan.trigger)


def location_state(plan: EnginePlan) -> bool:
    """Whether the engine keeps the location cells' figures (:mod:`engine.cell_fold`): when the
    setting allows it and the model or its challenger uses them."""
    models = [plan.model] if plan.challenger is None else [plan.model, plan.challenger]
    return plan.settings.engine_location_state and uses_cells(models)


def uses_cells(models: Iterable[SavedModel]) -> bool:
    """Whether any of ``models`` was trained on the location cells' figures."""
    return any(name in CELL_FEATURES for m in models for name in m.features)


def cell_resolution(model: SavedModel, settings: Settings) -> int:
    """The H3 resolution of the location cells: the one ``model`` was trained with."""
    saved = model.metadata.get("location_cell_resolution")
    return settings.location_cell_resolution if saved is None else int(saved)


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
    from engine.engine_run import EngineRun

    stop = should_stop or (lambda: False)
    with BlockingKafka(settings.bootstrap_servers) as kafka:
        run = EngineRun(spark, settings, options, kafka, scorer)
        status = "finished"
        try:
            if not run.start(stop):
                return run.close("interrupted")
            while run.step(progress):
                if stop():
                    status = "interrupted"
                    break
                time.sleep(run.poll_s)
            run.check_queries()
        except BaseException:
            status = "failed" if status == "finished" else status
            raise
        finally:
            if run.queries:
                report = run.close(status)
        return report


__all__ = ["EngineOptions", "EnginePlan", "EngineReport", "Score", "run_engine"]
