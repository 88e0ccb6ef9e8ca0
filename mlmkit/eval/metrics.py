"""GLUE metrics as pure numpy functions, computed offline exactly as GLUE defines them.

GLUE (Wang et al., 2019, §3 and Table 1) scores CoLA with Matthews correlation, MRPC and QQP
with F1 (positive class = paraphrase/duplicate, label 1) and accuracy, STS-B with Pearson and
Spearman correlation, and every other task with accuracy. No metric is fetched from a hub.
All functions return plain floats in [-1, 1] or [0, 1] (not percentages).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.typing import ArrayLike


def _pair(predictions: ArrayLike, references: ArrayLike, dtype: type = np.int64) -> tuple[np.ndarray, np.ndarray]:
    """Return both inputs as 1-D arrays of equal, non-zero length."""
    pred = np.asarray(predictions, dtype=dtype).reshape(-1)
    ref = np.asarray(references, dtype=dtype).reshape(-1)
    if pred.shape != ref.shape or pred.size == 0:
        raise ValueError(f"need as many predictions as references (and at least one); got {pred.size} and {ref.size}")
    return pred, ref


def accuracy(predictions: ArrayLike, references: ArrayLike) -> float:
    """Fraction of predictions equal to their reference label."""
    pred, ref = _pair(predictions, references)
    return float(np.mean(pred == ref))


def f1(predictions: ArrayLike, references: ArrayLike, positive: int = 1) -> float:
    """Binary F1 of class `positive` (GLUE: 1 = paraphrase / duplicate); 0.0 when it is never
    predicted nor present, as scikit-learn's `zero_division=0`."""
    pred, ref = _pair(predictions, references)
    true_pos = np.sum((pred == positive) & (ref == positive))
    denominator = np.sum(pred == positive) + np.sum(ref == positive)
    return float(2 * true_pos / denominator) if denominator else 0.0


def matthews_correlation(predictions: ArrayLike, references: ArrayLike) -> float:
    """Matthews correlation (multiclass form of Gorodkin, 2004, which reduces to the binary
    phi coefficient); 0.0 when either side is constant, as scikit-learn does."""
    pred, ref = _pair(predictions, references)
    classes = np.union1d(pred, ref)
    confusion = np.zeros((classes.size, classes.size), dtype=np.float64)
    np.add.at(confusion, (np.searchsorted(classes, ref), np.searchsorted(classes, pred)), 1.0)
    true_per_class, pred_per_class = confusion.sum(axis=1), confusion.sum(axis=0)
    total, correct = confusion.sum(), np.trace(confusion)
    covariance = correct * total - true_per_class @ pred_per_class
    variance_pred = total**2 - pred_per_class @ pred_per_class
    variance_true = total**2 - true_per_class @ true_per_class
    if variance_pred == 0 or variance_true == 0:
        return 0.0
    return float(covariance / np.sqrt(variance_pred * variance_true))


def pearson(predictions: ArrayLike, references: ArrayLike) -> float:
    """Pearson's r between scores; NaN when either side is constant (as scipy)."""
    x, y = _pair(predictions, references, dtype=np.float64)
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / denominator) if denominator > 0 else float("nan")


def average_ranks(values: ArrayLike) -> np.ndarray:
    """Ranks 1..n with ties given the mean of the ranks they span (scipy's `rankdata` 'average')."""
    data = np.asarray(values, dtype=np.float64).reshape(-1)
    order = np.argsort(data, kind="mergesort")
    sorted_data = data[order]
    # Start index of each run of equal values, and the run each sorted element belongs to.
    starts = np.flatnonzero(np.r_[True, sorted_data[1:] != sorted_data[:-1]])
    run_of = np.cumsum(np.r_[True, sorted_data[1:] != sorted_data[:-1]]) - 1
    ends = np.r_[starts[1:], data.size]
    ranks = np.empty(data.size, dtype=np.float64)
    ranks[order] = ((starts + 1 + ends) / 2.0)[run_of]
    return ranks


def spearman(predictions: ArrayLike, references: ArrayLike) -> float:
    """Spearman's rho: Pearson's r of the tie-averaged ranks."""
    x, y = _pair(predictions, references, dtype=np.float64)
    return pearson(average_ranks(x), average_ranks(y))


# Metric name (the names HF `evaluate`'s GLUE metric reports) -> function.
METRICS: dict[str, Callable[[ArrayLike, ArrayLike], float]] = {
    "accuracy": accuracy,
    "f1": f1,
    "matthews_correlation": matthews_correlation,
    "pearson": pearson,
    "spearmanr": spearman,
}


def compute_metrics(names: tuple[str, ...], predictions: ArrayLike, references: ArrayLike) -> dict[str, float]:
    """Compute each metric in `names` (keys of `METRICS`) on the same predictions."""
    return {name: METRICS[name](predictions, references) for name in names}
