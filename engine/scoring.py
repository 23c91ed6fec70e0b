"""The scoring stream: every input record of a run read once, one Kafka sink row out for each.

One streaming query reads the run's browsing and transactions (rate-limited) and its customer
profiles (all there are, every micro-batch, so that no transaction is scored before its
customer's profile arrived, as in training), parses each value once
(:mod:`fraudlab.record_parsing`), projects it into the event columns (:mod:`features.frames`),
watermarks it 2 minutes behind event time and groups it by a stable bucket of the customer id.
Python is called once per bucket and micro-batch (:mod:`engine.bucket_fold`): the bucket's
customers fold their events into features and its transactions are scored by the saved booster
in one vectorised call. When the model reads the location cells' figures, the transactions go
on instead to a second stateful operator in the same query, keyed by the cell of the shipping
address (:mod:`engine.cell_fold`), which adds the cell's figures and scores them there. Scores,
records dropped as late or as duplicate deliveries, and values that could not be parsed leave
the same pass for their topics (a per-row ``topic`` column of Spark's Kafka sink).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.bucket_fold import BucketState, fold_bucket
from engine.cell_fold import CELL_BUCKETS, target
from engine.verdicts import Challenger, Explainer, ModelStamp, Scorer
from features.frames import (
    CLAIM,
    CUSTOMER,
    FRONTIER,
    INVALID,
    RULE_CHANGE,
    SOURCE_COLUMNS,
    TRANSACTION,
    event_columns,
    frame_records,
)
from features.location import DEFAULT_RESOLUTION
from fraudlab.record_parsing import classify
from fraudlab.records import Record, Score, field_names

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.streaming.state import GroupState

    from models.registry import SavedModel

INPUT_STREAMS = ("browsing", "transactions", "customer")
LATENESS = "2 minutes"  # the assignment's limit: data later than this is dropped
# Builds, in the Python worker, the function that scores feature rows.
ScorerFactory = Callable[[], Scorer]
ExplainerFactory = Callable[[], Explainer]
ChallengerFactory = Callable[[], Challenger]


def kafka_rows(
    frame: DataFrame, cls: type[Record], topic: Column | str, run_id: str | None = None
) -> DataFrame:
    """``frame`` (in ``cls``'s columns) as Kafka sink rows: topic, key, JSON value; the key is
    :func:`fraudlab.records.message_key`'s (after ``run_id`` for a record whose key names its
    run)."""
    from pyspark.sql import functions as F

    topic_col = F.lit(topic) if isinstance(topic, str) else topic
    key = [F.col(k).cast("string") for k in cls.KEY]
    if cls.RUN_IN_KEY:
        if not run_id:
            raise ValueError(f"a {cls.STREAM} key names its run: give the run id")
        key.insert(0, F.lit(run_id))
    return frame.select(
        topic_col.alias("topic"),
        F.concat_ws("|", *key).alias("key"),
        F.to_json(F.struct(*field_names(cls))).alias("value"),
    )


def stream_of(topics: dict[str, str]) -> Column:
    """Which input stream each Kafka row belongs to, from its topic (null for another topic)."""
    from pyspark.sql import functions as F

    stream = F.when(F.col("topic") == topics[INPUT_STREAMS[0]], F.lit(INPUT_STREAMS[0]))
    for name in INPUT_STREAMS[1:]:
        stream = stream.when(F.col("topic") == topics[name], F.lit(name))
    return stream


def state_bucket(buckets: int) -> Column:
    """The state bucket of a row: a stable hash of its customer id (of its Kafka coordinates
    when it has none), so that a customer's events always meet its state."""
    from pyspark.sql import functions as F

    identity = F.coalesce(
        F.col("customer_id"), F.concat_ws("|", "topic", "partition", "offset", "element")
    )
    return F.pmod(F.xxhash64(identity), F.lit(buckets)).cast("int")


def model_scorer(model: SavedModel) -> ScorerFactory:
    """The scorer of a saved model, for the fold: loaded once per Python worker (by folder and
    digest), so a micro-batch's tasks carry only the model's folder name, never its trees."""
    folder, digest = str(model.folder), model.digest

    def build() -> Scorer:
        from models.scorer import load_scorer

        return load_scorer(Path(folder), digest).probabilities

    return build


def model_explainer(model: SavedModel, top: int) -> ExplainerFactory:
    """The explainer of a saved model, for the fold: the JSON of each feature row's
    :class:`models.explanations.Explanation` (its ``top`` contributions), from the scorer
    :func:`model_scorer` loads, so a worker reads the booster once for both."""
    folder, digest = str(model.folder), model.digest

    def build() -> Explainer:
        from models.scorer import load_scorer

        scorer = load_scorer(Path(folder), digest)
        return lambda rows: [e.to_json() for e in scorer.explain(rows, top)]

    return build


def model_challenger(model: SavedModel) -> ChallengerFactory:
    """A saved model as the fold's challenger (:mod:`engine.verdicts`), loaded as
    :func:`model_scorer` loads the champion: once per Python worker."""
    stamp = ModelStamp(model.name, model.digest, model.threshold)
    score = model_scorer(model)

    def build() -> Challenger:
        return Challenger(stamp, score())

    return build


def constant_scorer(probability: float) -> ScorerFactory:
    """A scorer giving every transaction the same probability (the engine benchmark's
    reference: everything but the model)."""

    def build() -> Scorer:
        return lambda rows: [probability] * len(rows)

    return build


def start_python_workers(spark: SparkSession, *loaders: Callable[[], object]) -> None:
    """Start Spark's Python workers, each with the scorer loaded, before the first micro-batch.

    A worker forks from the daemon (:mod:`fraudlab.python_workers`) at the first Python task
    and stays for the next ones, so a tiny job on every task slot moves the start of the
    workers and the reading of the booster out of the first micro-batch, which also folds in
    every customer profile there is. ``loaders`` are the factories (scorers, a challenger) to
    call in each worker.
    """
    slots = spark.sparkContext.defaultParallelism

    def load(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for loader in loaders:
            loader()
        yield from frames

    spark.range(slots, numPartitions=slots).mapInPandas(load, "id long").collect()


def scoring_rows(
    raw: DataFrame,
    topics: dict[str, str],
    model: ModelStamp,
    scorer: ScorerFactory,
    buckets: int,
    reports: DataFrame | None = None,
    partitions: list[str] | None = None,
    lateness: str = LATENESS,
    share: bool = True,
    sessions: DataFrame | None = None,
    rules: DataFrame | None = None,
    explainer: ExplainerFactory | None = None,
    explain_every: bool = False,
    challenger: ChallengerFactory | None = None,
    cells: bool = False,
    resolution: int = DEFAULT_RESOLUTION,
    identities: bool = True,
) -> DataFrame:
    """Kafka sink rows (topic, key, value) of scores, dead letters and frontier reports, from
    the Kafka rows of a run's input topics (a streaming frame: the fold keeps per-bucket state).

    With ``cells``, a second stateful operator keyed by the location cell of each shipping
    address (H3 ``resolution``) adds the cell's figures to each transaction and scores it
    (:mod:`engine.cell_fold`); without, the cell figures are zero and the customer fold scores.

    ``reports`` are the Kafka rows of the run's frontier topic (:mod:`engine.frontier`), each
    read into every bucket; ``partitions`` names the run's input partitions
    (``topic:partition``) that the frontier waits for, or is None for no hold at all; ``share``:
    whether buckets report their progress to the others (see
    :func:`engine.bucket_fold.fold_bucket`); ``sessions``: which customer each session belongs
    to (:func:`fraudlab.record_parsing.session_customers`), for browsing records without a
    customer_id; ``rules``: the Kafka rows of the run's rules topic (:mod:`rulebook.rules`), each
    read into every bucket; ``explainer``: what explains a score (none: scores carry no
    explanation), on every potential fraud, or on every score with ``explain_every``;
    ``challenger``: a second model scored beside ``model`` (:mod:`engine.verdicts`), or None;
    ``identities``: with the hold, whether transactions claim their ids (:mod:`engine.identity`;
    off only in the benchmark, to weigh what the check costs).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.streaming.state import GroupStateTimeout
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    from engine.cell_processor import CellFoldProcessor

    classified = classify(raw, stream_of(topics), sessions)
    events = classified.select(
        *event_columns(),
        F.when(F.col("reason").isNotNull(), F.col("value")).alias("raw"),
        "reason",
    )
    # profiles and unreadable values carry no event time: they must not move the watermark
    timed = F.col("kind").isin(CUSTOMER, INVALID)
    watermarked = events.withColumn(
        "event_timestamp", F.when(~timed, F.timestamp_seconds("ts"))
    ).withWatermark("event_timestamp", lateness)
    claiming = identities and partitions is not None and reports is not None
    if claiming:
        # with the hold, each transaction's claims on its ids go to the ids' own buckets
        watermarked = _with_claims(watermarked, buckets)
    else:
        watermarked = watermarked.withColumn("bucket", state_bucket(buckets))
    events_in = watermarked
    for messages, kind in ((reports, FRONTIER), (rules, RULE_CHANGE)):
        if messages is not None:
            watermarked = watermarked.unionByName(_every_bucket(messages, events_in, buckets, kind))
    payload = [c for c in watermarked.columns if c not in ("bucket", "event_timestamp")]
    expected = None if partitions is None else list(partitions)

    sink_columns = ["topic", "key", "value"]
    out_columns = [*sink_columns, "cell_bucket"] if cells else sink_columns

    def fold(
        key: tuple[int], frames: Iterator[pd.DataFrame], state: GroupState
    ) -> Iterator[pd.DataFrame]:
        import pandas as pd

        bucket = BucketState.from_columns(state.get if state.exists else None)
        rows = [r for frame in frames for r in frame_records(frame[payload])]
        watermark_ms = int(state.getCurrentWatermarkMs())
        scoring = not cells
        out = fold_bucket(
            bucket,
            rows,
            watermark_ms,
            scorer() if scoring else _unused_scorer,
            model,
            topics,
            expected,
            share,
            int(key[0]),
            explain=None if explainer is None or not scoring else explainer(),
            explain_every=explain_every,
            challenger=None if challenger is None or not scoring else challenger(),
            cells=CELL_BUCKETS if cells else None,
            resolution=resolution,
            buckets=buckets,
            identities=claiming,
        )
        state.update(bucket.to_columns())
        if cells:
            routed = [(*row, target(row, int(key[0]), CELL_BUCKETS)) for row in out]
            yield pd.DataFrame(routed, columns=out_columns).astype({"cell_bucket": "int32"})
        else:
            yield pd.DataFrame(out, columns=sink_columns, dtype=object)

    folded = watermarked.groupBy("bucket").applyInPandasWithState(
        fold,
        outputStructType=StructType(
            [StructField(c, StringType()) for c in sink_columns]
            + ([StructField("cell_bucket", IntegerType())] if cells else [])
        ),
        stateStructType=StructType(
            [StructField(c, StringType()) for c in ("customers", "pending", "frontier", "owners")]
        ),
        outputMode="append",
        timeoutConf=GroupStateTimeout.NoTimeout,
    )
    if not cells:
        return folded
    processor = CellFoldProcessor(
        buckets, scorer, model, topics, explainer, explain_every, challenger
    )
    return folded.groupBy("cell_bucket").transformWithStateInPandas(
        processor,
        outputStructType=StructType([StructField(c, StringType()) for c in sink_columns]),
        outputMode="Append",
        timeMode="None",
    )


def _unused_scorer(rows: list[dict[str, Any]]) -> list[float]:
    raise AssertionError("the location fold scores, not the customer fold")


def _with_claims(events: DataFrame, buckets: int) -> DataFrame:
    """``events`` with their state ``bucket``, and beside each transaction its claims on its
    transaction id and its session id (:mod:`engine.identity`): rows of kind
    :data:`~features.frames.CLAIM` in the same columns, holding the claimant's customer, time
    and Kafka position, the claim key as ``event_id``, in the bucket of the id.

    The claims come out of the same pass over the input as the events (one row in, one to three
    out), so the input is read and parsed once: a union of the events with a frame derived
    from them would read the micro-batch's Kafka rows, and parse them, a second time.
    """
    from pyspark.sql import functions as F

    from engine.identity import SESSION_ID, TRANSACTION_ID

    no_claim = F.lit(None).cast("string")
    keys = F.when(
        F.col("kind") == TRANSACTION,
        F.array(
            no_claim,
            F.concat(F.lit(TRANSACTION_ID), F.nullif(F.col("transaction_id"), F.lit(""))),
            F.concat(F.lit(SESSION_ID), F.nullif(F.col("session_id"), F.lit(""))),
        ),
    ).otherwise(F.array(no_claim))
    # position 0 is the event itself; the others are its claims, where it has the id
    rows = events.select("*", F.posexplode(keys).alias("claim_at", "claim")).where(
        (F.col("claim_at") == 0) | F.col("claim").isNotNull()
    )
    is_claim = F.col("claim_at") > 0
    kept = {"customer_id", "ts", "seq", "event_timestamp", *SOURCE_COLUMNS}
    fixed = {
        "kind": F.when(is_claim, F.lit(CLAIM)).otherwise(F.col("kind")),
        "event_id": F.when(is_claim, F.col("claim")).otherwise(F.col("event_id")),
    }
    # the kept columns pass as they are (event_timestamp keeps its watermark)
    columns = [
        F.col(f.name)
        if f.name in kept
        else (fixed[f.name] if f.name in fixed else F.when(~is_claim, F.col(f.name)))
        .cast(f.dataType)
        .alias(f.name)
        for f in events.schema.fields
    ]
    bucket = F.when(is_claim, F.pmod(F.xxhash64("claim"), F.lit(buckets)).cast("int")).otherwise(
        state_bucket(buckets)
    )
    return rows.select(*columns, bucket.alias("bucket"))


def _every_bucket(messages: DataFrame, like: DataFrame, buckets: int, kind: int) -> DataFrame:
    """Every Kafka row of ``messages`` (frontier reports, rule changes) once for each state
    bucket, as rows of ``kind`` in the columns of ``like``."""
    from pyspark.sql import functions as F

    fixed = {
        "kind": F.lit(kind),
        "ts": F.lit(0).cast("long"),
        "seq": F.lit(0),
        "raw": F.col("value"),
        "topic": F.col("topic").cast("string"),
        "partition": F.col("partition").cast("int"),
        "offset": F.col("offset").cast("long"),
        "element": F.lit(0),
        "bucket": F.col("bucket"),
    }
    every_bucket = messages.select(
        "*", F.explode(F.sequence(F.lit(0), F.lit(buckets - 1))).alias("bucket")
    )
    return every_bucket.select(
        *[
            (fixed[f.name] if f.name in fixed else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in like.schema.fields
        ]
    )


def parse_scores(raw: DataFrame) -> DataFrame:
    """Score records (with ``event_timestamp``) from Kafka rows of a scores topic."""
    from pyspark.sql import functions as F

    from fraudlab.schemas import spark_schema

    return (
        raw.select(F.from_json(F.col("value").cast("string"), spark_schema(Score)).alias("s"))
        .select("s.*")
        .where(F.col("transaction_id").isNotNull())
        .withColumn("event_timestamp", F.timestamp_seconds("ts"))
    )


__all__ = [
    "constant_scorer",
    "kafka_rows",
    "model_challenger",
    "model_explainer",
    "model_scorer",
    "parse_scores",
    "scoring_rows",
    "state_bucket",
]
