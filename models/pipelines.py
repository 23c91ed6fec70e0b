"""The candidate model pipelines: features in, fraud probability out.

Every candidate is a Spark ML Pipeline over the feature columns of :mod:`engine.features`:
categorical features are indexed (unseen values kept in their own bucket) and one-hot encoded,
everything is assembled into one vector, and a classifier gives ``probability``. The same
PipelineModel scores batch frames (evaluation) and streaming frames (the engine).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.features import CATEGORY_FEATURES, NUMERIC_FEATURES

if TYPE_CHECKING:
    from pyspark.ml import Pipeline
    from pyspark.sql import Column, DataFrame

CANDIDATES = ("gbt", "random_forest", "logistic")


def build_pipeline(kind: str, seed: int) -> Pipeline:
    """A fresh, untrained pipeline of one candidate kind."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import (
        GBTClassifier,
        LogisticRegression,
        RandomForestClassifier,
    )
    from pyspark.ml.feature import OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler

    indexed = [f"{c}_index" for c in CATEGORY_FEATURES]
    encoded = [f"{c}_onehot" for c in CATEGORY_FEATURES]
    stages: list = [
        StringIndexer(
            inputCols=list(CATEGORY_FEATURES),
            outputCols=indexed,
            handleInvalid="keep",
            stringOrderType="alphabetAsc",
        ),
        OneHotEncoder(inputCols=indexed, outputCols=encoded, handleInvalid="keep"),
        VectorAssembler(
            inputCols=[*NUMERIC_FEATURES, *encoded], outputCol="raw_features", handleInvalid="keep"
        ),
    ]
    if kind == "gbt":
        stages.append(
            GBTClassifier(
                featuresCol="raw_features",
                labelCol="label",
                maxIter=60,
                maxDepth=5,
                stepSize=0.1,
                subsamplingRate=0.8,
                seed=seed,
            )
        )
    elif kind == "random_forest":
        stages.append(
            RandomForestClassifier(
                featuresCol="raw_features", labelCol="label", numTrees=120, maxDepth=10, seed=seed
            )
        )
    elif kind == "logistic":
        stages.append(StandardScaler(inputCol="raw_features", outputCol="scaled_features"))
        stages.append(
            LogisticRegression(
                featuresCol="scaled_features", labelCol="label", maxIter=100, regParam=0.001
            )
        )
    else:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(CANDIDATES)}")
    return Pipeline(stages=stages)


def fraud_probability() -> Column:
    """The probability of class 1 from a classifier's ``probability`` vector."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    return F.element_at(vector_to_array(F.col("probability")), 2)


def scored(frame: DataFrame, model: object) -> DataFrame:
    """``frame`` with a ``fraud_probability`` column from a fitted pipeline."""
    out = model.transform(frame)  # type: ignore[attr-defined]
    return out.withColumn("fraud_probability", fraud_probability())
