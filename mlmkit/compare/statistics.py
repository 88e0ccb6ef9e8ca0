"""Uncertainty for the comparison: bootstrap intervals, paired differences and verdicts.

Every score in a comparison is a ratio of sums over evaluation units (held-out blocks; GLUE dev
examples), possibly over several seeds: accuracy = correct / count. Its 95% interval is a percentile
bootstrap (Efron & Tibshirani 1993, ch. 13) that resamples the units and, where there are at least two,
the seeds (a two-level bootstrap: seeds, then units, so both sources of variation widen the interval).
A paired difference between two strategies resamples the SAME units and seeds for both, which removes
the variation they share (the same hard blocks, the same fine-tuning seed) from the comparison.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 2000

# Verdicts of a paired difference.
BETTER, WORSE, TIE = "better", "worse", "not distinguishable"


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap interval (`low`..`high`) at `confidence`."""

    estimate: float
    low: float
    high: float
    confidence: float = CONFIDENCE

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def resample_indices(n_seeds: int, n_units: int, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts of each seed (R, S) and each unit (R, N) in `resamples` bootstrap draws.

    With one seed only the units are resampled (there is no seed variation to estimate).
    """
    rng = np.random.default_rng(seed)
    units = rng.integers(0, n_units, size=(resamples, n_units))
    unit_counts = np.zeros((resamples, n_units))
    np.add.at(unit_counts, (np.arange(resamples)[:, None], units), 1.0)
    if n_seeds < 2:
        return np.ones((resamples, max(n_seeds, 1))), unit_counts
    seeds = rng.integers(0, n_seeds, size=(resamples, n_seeds))
    seed_counts = np.zeros((resamples, n_seeds))
    np.add.at(seed_counts, (np.arange(resamples)[:, None], seeds), 1.0)
    return seed_counts, unit_counts


def _weighted_ratio(numerators: np.ndarray, denominators: np.ndarray, seed_counts: np.ndarray, unit_counts: np.ndarray) -> np.ndarray:
    """sum(num) / sum(den) of every resample: (R,) from (S, N) arrays and (R, S), (R, N) counts."""
    top = np.einsum("rs,sn,rn->r", seed_counts, numerators, unit_counts)
    bottom = np.einsum("rs,sn,rn->r", seed_counts, denominators, unit_counts)
    return top / np.where(bottom == 0, np.nan, bottom)


def _as_grid(values: Any) -> np.ndarray:
    """(S, N) float array from a (N,) or (S, N) array-like: seeds × units."""
    array = np.asarray(values, dtype=np.float64)
    return array[None, :] if array.ndim == 1 else array


def _percentile_interval(estimate: float, samples: np.ndarray, confidence: float) -> Interval:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return Interval(estimate, estimate, estimate, confidence)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return Interval(float(estimate), float(low), float(high), confidence)


def ratio_interval(
    numerators: Any, denominators: Any, *, resamples: int = RESAMPLES, confidence: float = CONFIDENCE, seed: int = 0
) -> Interval:
    """Interval of sum(numerators) / sum(denominators) over seeds × units.

    Args:
        numerators, denominators: (N,) per unit, or (S, N) per seed and unit (e.g. correct and
            masked tokens per held-out block; 1 and correct per GLUE dev example).
        resamples: bootstrap draws.
        confidence: coverage of the percentile interval.
        seed: seeds the resampling, so a report is reproducible.

    Raises:
        ValueError: the two arrays differ in shape, or there are no units.
    """
    top, bottom = _as_grid(numerators), _as_grid(denominators)
    _check_shapes(top, bottom)
    seed_counts, unit_counts = resample_indices(top.shape[0], top.shape[1], resamples, seed)
    estimate = top.sum() / bottom.sum() if bottom.sum() else float("nan")
    return _percentile_interval(estimate, _weighted_ratio(top, bottom, seed_counts, unit_counts), confidence)


def paired_difference(
    first: tuple[Any, Any],
    second: tuple[Any, Any],
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """Interval of ratio(second) − ratio(first), resampling the same seeds and units for both.

    Args:
        first, second: (numerators, denominators) of two strategies, each (N,) or (S, N) over the same
            units (and seeds) in the same order.

    Raises:
        ValueError: shapes differ between the arrays, or there are no units.
    """
    arrays = [_as_grid(values) for values in (*first, *second)]
    for array in arrays[1:]:
        _check_shapes(arrays[0], array)
    seed_counts, unit_counts = resample_indices(arrays[0].shape[0], arrays[0].shape[1], resamples, seed)
    ratios = [_weighted_ratio(arrays[i], arrays[i + 1], seed_counts, unit_counts) for i in (0, 2)]
    estimate = arrays[2].sum() / arrays[3].sum() - arrays[0].sum() / arrays[1].sum()
    return _percentile_interval(estimate, ratios[1] - ratios[0], confidence)


def statistic_interval(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    n_seeds: int,
    n_units: int,
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """Interval of any statistic of seeds × units (e.g. a GLUE F1 or Matthews correlation, or a paired
    difference of two), computed on resampled index lists.

    Args:
        statistic: f(seed_indices (S,), unit_indices (N,)) -> value; called once on the identity
            indices for the estimate and once per resample.
        n_seeds, n_units: S and N.
    """
    rng = np.random.default_rng(seed)
    identity = statistic(np.arange(n_seeds), np.arange(n_units))
    samples = np.empty(resamples)
    for r in range(resamples):
        seeds = rng.integers(0, n_seeds, n_seeds) if n_seeds >= 2 else np.arange(n_seeds)
        samples[r] = statistic(seeds, rng.integers(0, n_units, n_units))
    return _percentile_interval(identity, samples, confidence)


def verdict(difference: Interval, higher_is_better: bool = True) -> str:
    """"better" / "worse" when the interval of (second − first) excludes 0, else "not distinguishable"."""
    if difference.low > 0:
        return BETTER if higher_is_better else WORSE
    if difference.high < 0:
        return WORSE if higher_is_better else BETTER
    return TIE


def scale_to_resolve(difference: Interval) -> float | None:
    """How many times the evaluation data (units × seeds) would shrink this interval enough to exclude 0
    if the observed difference held: (half-width / |difference|)², since a bootstrap interval narrows
    with the square root of the sample. None when the estimate is 0 (nothing to resolve)."""
    half_width = (difference.high - difference.low) / 2
    if difference.estimate == 0 or not np.isfinite(half_width):
        return None
    return float((half_width / abs(difference.estimate)) ** 2)


def _check_shapes(first: np.ndarray, second: np.ndarray) -> None:
    if first.shape != second.shape:
        raise ValueError(f"arrays of different shapes {first.shape} and {second.shape}: pass the same seeds and units")
    if first.shape[1] == 0:
        raise ValueError("no evaluation units to resample")
