"""Explanations: TreeSHAP contributions per feature of the contract, checked against xgboost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost
from random_features import METHODS, random_features

from features.definition import FEATURES
from fraudlab.explanation import WORDS, Contribution, Explanation, describe
from models.explanations import explanations, feature_contributions
from models.feature_vectors import encoding_for, feature_matrix


@pytest.fixture(scope="module")
def trained() -> tuple[xgboost.Booster, pd.DataFrame]:
    rng = np.random.default_rng(3)
    n = 500
    rows = random_features(rng, n)
    rows.loc[::7, "distance_km"] = np.nan  # missing values take the trees' default branch
    risk = rows["total_amount"] + 90.0 * (rows["payment_method"] == "OVO")
    label = (risk + rng.normal(size=n) * 40 > 120.0).astype(float)
    encoding = encoding_for(rows)
    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 4, "nthread": 1, "seed": 1},
        xgboost.DMatrix(feature_matrix(rows, encoding), label=label),
        num_boost_round=25,
    )
    return booster, rows


def _margins(booster: xgboost.Booster, rows: pd.DataFrame) -> np.ndarray:
    matrix = feature_matrix(rows, encoding_for(rows))
    return np.asarray(booster.predict(xgboost.DMatrix(matrix), output_margin=True))


def test_contributions_and_bias_sum_to_the_boosters_margin(
    trained: tuple[xgboost.Booster, pd.DataFrame],
) -> None:
    booster, rows = trained
    encoding = encoding_for(rows)
    contributions = feature_contributions(booster, feature_matrix(rows, encoding), encoding)
    assert contributions.shape == (len(rows), len(FEATURES) + 1)
    np.testing.assert_allclose(contributions.sum(axis=1), _margins(booster, rows), atol=1e-4)
    # the margin's logistic is the probability xgboost predicts
    probabilities = booster.inplace_predict(feature_matrix(rows, encoding))
    np.testing.assert_allclose(
        1 / (1 + np.exp(-contributions.sum(axis=1))), probabilities, atol=1e-5
    )


def test_an_explanation_keeps_the_largest_and_still_sums_to_the_margin(
    trained: tuple[xgboost.Booster, pd.DataFrame],
) -> None:
    booster, rows = trained
    found = explanations(booster, encoding_for(rows), rows.head(50), top=3)
    margins = _margins(booster, rows.head(50))
    for explanation, margin in zip(found, margins, strict=True):
        assert len(explanation.top) == 3
        sizes = [abs(c.contribution) for c in explanation.top]
        assert sizes == sorted(sizes, reverse=True)
        assert explanation.margin == pytest.approx(float(margin), abs=1e-4)
    # the amount drives the label: it leads most explanations
    leaders = [e.top[0].feature for e in found]
    assert leaders.count("total_amount") > len(found) / 2
    # a category feature is one contribution, with the row's own value
    methods = [c for e in found for c in e.top if c.feature == "payment_method"]
    assert methods and all(c.value in METHODS for c in methods)
    missing = [c for e in found for c in e.top if c.feature == "distance_km" and c.value is None]
    assert all(describe(c).startswith("distance_km missing") for c in missing)


def test_every_feature_reads_in_words() -> None:
    assert set(WORDS) == set(FEATURES)
    for feature, kind in FEATURES.items():
        value = "OVO" if kind == "category" else 1234.5
        assert describe(Contribution(feature, value, -0.25)).endswith(": -0.25")


def test_an_explanation_survives_json() -> None:
    e = Explanation(-2.5, 0.125, (Contribution("payment_method", "OVO", 0.75),))
    assert Explanation.from_json(e.to_json()) == e
