"""Ranking and threshold metrics of a fraud model, on plain arrays of scores and labels.

>>> labels = [0, 0, 1, 1]
>>> roc_auc([0.1, 0.4, 0.35, 0.8], labels)
0.75
>>> round(average_precision([0.1, 0.4, 0.35, 0.8], labels), 4)
0.8333
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def _arrays(
    scores: Sequence[float] | FloatArray, labels: Sequence[int] | FloatArray
) -> tuple[FloatArray, FloatArray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if s.shape != y.shape:
        raise ValueError("scores and labels differ in length")
    return s, y


def roc_auc(scores: Sequence[float] | FloatArray, labels: Sequence[int] | FloatArray) -> float:
    """Area under the ROC curve (ties count half); NaN when one class is absent."""
    s, y = _arrays(scores, labels)
    positives = y.sum()
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_scores = s[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def average_precision(
    scores: Sequence[float] | FloatArray, labels: Sequence[int] | FloatArray
) -> float:
    """Average precision: precision averaged over the recall steps of the ranking (ties grouped)."""
    s, y = _arrays(scores, labels)
    positives = y.sum()
    if positives == 0:
        return float("nan")
    precision, recall, _ = pr_curve(s, y)
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float((steps * precision).sum())


def pr_curve(
    scores: Sequence[float] | FloatArray, labels: Sequence[int] | FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(precision, recall, threshold) at every distinct score, highest threshold first."""
    s, y = _arrays(scores, labels)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(y)[distinct]
    fp = (distinct + 1) - tp
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / max(y.sum(), 1)
    return precision, recall, s[distinct]


@dataclass(frozen=True)
class AtThreshold:
    """Precision, recall and alert rate of the decision score >= threshold."""

    threshold: float
    precision: float
    recall: float
    alert_rate: float


def at_threshold(
    scores: Sequence[float] | FloatArray, labels: Sequence[int] | FloatArray, threshold: float
) -> AtThreshold:
    """Figures of the decision ``score >= threshold``."""
    s, y = _arrays(scores, labels)
    alerts = s >= threshold
    tp = float((alerts & (y == 1)).sum())
    n_alerts = float(alerts.sum())
    return AtThreshold(
        threshold,
        tp / n_alerts if n_alerts else 0.0,
        tp / y.sum() if y.sum() else 0.0,
        n_alerts / len(y) if len(y) else 0.0,
    )


def best_threshold(
    scores: Sequence[float] | FloatArray,
    labels: Sequence[int] | FloatArray,
    min_precision: float = 0.5,
) -> float:
    """The threshold with the highest recall at precision >= min_precision (else best F1)."""
    precision, recall, thresholds = pr_curve(scores, labels)
    ok = precision >= min_precision
    if ok.any():
        best = np.flatnonzero(ok)[np.argmax(recall[ok])]
    else:
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        best = int(np.argmax(f1))
    return float(thresholds[best])


def recall_at_precision(
    scores: Sequence[float] | FloatArray,
    labels: Sequence[int] | FloatArray,
    min_precision: float,
) -> float:
    """The best recall of any threshold whose precision is at least ``min_precision`` (else 0).

    >>> recall_at_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0], 0.6)
    1.0
    """
    precision, recall, _ = pr_curve(scores, labels)
    ok = precision >= min_precision
    return float(recall[ok].max()) if ok.any() else 0.0


def single_feature_ap(
    values: Sequence[float] | FloatArray, labels: Sequence[int] | FloatArray
) -> float:
    """The average precision a feature reaches alone, ranking by it in either direction."""
    v, y = _arrays(values, labels)
    return max(average_precision(v, y), average_precision(-v, y))
