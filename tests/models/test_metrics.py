"""The metrics agree with scikit-learn's reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from models import metrics


@pytest.fixture(params=[0, 1, 2])
def scored(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(request.param)
    labels = (rng.random(2000) < 0.03).astype(float)
    scores = np.round(rng.random(2000) * 0.7 + labels * rng.random(2000) * 0.6, 2)  # with ties
    return scores, labels


def test_roc_auc_matches_sklearn(scored: tuple[np.ndarray, np.ndarray]) -> None:
    scores, labels = scored
    assert metrics.roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))


def test_average_precision_matches_sklearn(scored: tuple[np.ndarray, np.ndarray]) -> None:
    scores, labels = scored
    assert metrics.average_precision(scores, labels) == pytest.approx(
        average_precision_score(labels, scores)
    )


def test_pr_curve_matches_sklearn(scored: tuple[np.ndarray, np.ndarray]) -> None:
    scores, labels = scored
    precision, recall, thresholds = metrics.pr_curve(scores, labels)
    ref_p, ref_r, ref_t = precision_recall_curve(labels, scores)
    # sklearn lists thresholds ascending and appends the (1, 0) end point
    assert thresholds == pytest.approx(ref_t[::-1][: len(thresholds)])
    assert precision == pytest.approx(ref_p[:-1][::-1][: len(precision)])
    assert recall == pytest.approx(ref_r[:-1][::-1][: len(recall)])


def test_threshold_figures() -> None:
    at = metrics.at_threshold([0.9, 0.8, 0.2, 0.1], [1, 0, 1, 0], 0.5)
    assert (at.precision, at.recall, at.alert_rate) == (0.5, 0.5, 0.5)


def test_best_threshold_prefers_recall_at_the_precision_floor() -> None:
    scores = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5]
    labels = [1, 1, 0, 1, 0, 0]
    threshold = metrics.best_threshold(scores, labels, min_precision=0.7)
    assert threshold == 0.7  # 3 of 4 alerts are fraud, all fraud caught


def test_single_feature_ap_takes_either_direction() -> None:
    labels = [0, 0, 0, 1, 1]
    assert metrics.single_feature_ap([5, 4, 3, 2, 1], labels) == pytest.approx(1.0)
    assert metrics.single_feature_ap([1, 2, 3, 4, 5], labels) == pytest.approx(1.0)


def test_one_class_gives_nan_not_an_error() -> None:
    assert np.isnan(metrics.roc_auc([0.1, 0.2], [0, 0]))
    assert np.isnan(metrics.average_precision([0.1, 0.2], [0, 0]))
