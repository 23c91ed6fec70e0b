"""The location fold as Spark runs it: a ``transformWithStateInPandas`` processor per cell bucket.

Spark allows one ``applyInPandasWithState`` per streaming query, and the customer fold is it;
the location fold that follows it in the same query (:mod:`engine.cell_fold`) is a
:class:`~pyspark.sql.streaming.StatefulProcessor` (Spark 4's arbitrary-state API, RocksDB state
store). Its state is one value per cell bucket: the three JSON strings of a
:class:`~engine.cell_fold.CellBucketState`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pyspark.sql.streaming import StatefulProcessor, StatefulProcessorHandle
from pyspark.sql.types import StringType, StructField, StructType

from engine.cell_fold import CellBucketState, fold_cell_bucket
from engine.verdicts import Challenger, Explainer, ModelStamp, Scorer

if TYPE_CHECKING:
    import pandas as pd

STATE = StructType([StructField(c, StringType()) for c in ("cells", "held", "position")])
SINK_COLUMNS = ["topic", "key", "value"]


class CellFoldProcessor(StatefulProcessor):
    """Calls :func:`engine.cell_fold.fold_cell_bucket` once per cell bucket and micro-batch;
    ``buckets``: the number of customer buckets; the factories build, in the Python worker, the
    scorer, the explainer and the challenger (none for None)."""

    def __init__(
        self,
        buckets: int,
        scorer: Callable[[], Scorer],
        model: ModelStamp,
        topics: dict[str, str],
        explainer: Callable[[], Explainer] | None,
        explain_every: bool,
        challenger: Callable[[], Challenger] | None,
    ) -> None:
        self.buckets = buckets
        self.scorer = scorer
        self.model = model
        self.topics = topics
        self.explainer = explainer
        self.explain_every = explain_every
        self.challenger = challenger

    def init(self, handle: StatefulProcessorHandle) -> None:
        self.state = handle.getValueState("cell_bucket", STATE)

    def handleInputRows(
        self, key: Any, rows: Iterator[pd.DataFrame], timerValues: Any
    ) -> Iterator[pd.DataFrame]:
        import pandas as pd

        stored = self.state.get() if self.state.exists() else None
        bucket = CellBucketState.from_columns(None if stored is None else tuple(stored))
        received = [
            row
            for frame in rows
            for row in zip(frame["topic"], frame["key"], frame["value"], strict=True)
        ]
        out = fold_cell_bucket(
            bucket,
            received,
            self.buckets,
            self.scorer(),
            self.model,
            self.topics,
            explain=None if self.explainer is None else self.explainer(),
            explain_every=self.explain_every,
            challenger=None if self.challenger is None else self.challenger(),
        )
        self.state.update(bucket.to_columns())
        yield pd.DataFrame(out, columns=SINK_COLUMNS, dtype=object)

    def close(self) -> None:
        pass


__all__ = ["CellFoldProcessor"]
