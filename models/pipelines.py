"""The fraud probability column of a Spark ML classifier's output.

Models are xgboost boosters scored through :class:`models.scorer.Scorer` now; this module keeps
only the column the engine's scoring stream still reads until it scores through the Scorer too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column


def fraud_probability() -> Column:
    """The probability of class 1 from a classifier's ``probability`` vector."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    return F.element_at(vector_to_array(F.col("probability")), 2)
