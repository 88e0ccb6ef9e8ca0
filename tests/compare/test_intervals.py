"""Bootstrap intervals, paired differences and verdicts of the comparison report."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mlmkit.compare.statistics import (
    BETTER,
    TIE,
    WORSE,
    Interval,
    paired_difference,
    ratio_interval,
    scale_to_resolve,
    statistic_interval,
    verdict,
)


def _blocks(rng: np.random.Generator, accuracy: float, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Per-block (correct, masked tokens) like the held-out measure's: 10..30 masked tokens a block."""
    tokens = rng.integers(10, 31, n).astype(float)
    return rng.binomial(tokens.astype(int), accuracy).astype(float), tokens


def test_ratio_interval_matches_scipy_bootstrap() -> None:
    rng = np.random.default_rng(0)
    correct, tokens = _blocks(rng, 0.3)
    ours = ratio_interval(correct, tokens, resamples=20000, seed=1)
    theirs = stats.bootstrap(
        (correct, tokens), lambda c, t, axis=-1: c.sum(axis=axis) / t.sum(axis=axis), paired=True,
        vectorized=True, n_resamples=20000, method="percentile", random_state=2,
    ).confidence_interval
    assert ours.estimate == pytest.approx(correct.sum() / tokens.sum())
    assert ours.low == pytest.approx(theirs.low, abs=0.002) and ours.high == pytest.approx(theirs.high, abs=0.002)
    assert ours.low < ours.estimate < ours.high


def test_paired_difference_matches_scipy_and_beats_unpaired() -> None:
    rng = np.random.default_rng(3)
    tokens = rng.integers(20, 61, 300)
    hardness = rng.uniform(0.02, 0.9, 300)  # shared by both models: the same blocks are hard for both
    first = rng.binomial(tokens, hardness).astype(float)
    second = rng.binomial(tokens, np.clip(hardness + 0.02, 0, 1)).astype(float)
    tokens = tokens.astype(float)
    ours = paired_difference((first, tokens), (second, tokens), resamples=20000, seed=4)
    theirs = stats.bootstrap(
        (first, second, tokens), lambda a, b, t, axis=-1: (b.sum(axis=axis) - a.sum(axis=axis)) / t.sum(axis=axis),
        paired=True, vectorized=True, n_resamples=20000, method="percentile", random_state=5,
    ).confidence_interval
    assert ours.low == pytest.approx(theirs.low, abs=0.002) and ours.high == pytest.approx(theirs.high, abs=0.002)
    unpaired = (ratio_interval(first, tokens, seed=6), ratio_interval(second, tokens, seed=7))
    assert ours.high - ours.low < 0.7 * min(i.high - i.low for i in unpaired)


def test_two_level_bootstrap_widens_with_seed_spread() -> None:
    """Seeds that disagree (GLUE fine-tuning) widen the interval; identical seeds do not."""
    rng = np.random.default_rng(8)
    correct = rng.binomial(1, 0.7, 800).astype(float)
    same = ratio_interval(np.stack([correct] * 3), np.ones((3, 800)), seed=9)
    spread = np.stack([correct, rng.binomial(1, 0.55, 800), rng.binomial(1, 0.85, 800)]).astype(float)
    varied = ratio_interval(spread, np.ones((3, 800)), seed=9)
    assert varied.high - varied.low > 2 * (same.high - same.low)


def test_hand_computed_case() -> None:
    """Two units: every resample is (a,a), (a,b), (b,a) or (b,b), so the interval spans their ratios."""
    interval = ratio_interval([1.0, 3.0], [2.0, 4.0], resamples=4000, seed=0)
    assert interval.estimate == pytest.approx(4 / 6)
    assert interval.low == pytest.approx(0.5) and interval.high == pytest.approx(0.75)


def test_statistic_interval_for_a_non_ratio_metric() -> None:
    rng = np.random.default_rng(10)
    labels = rng.integers(0, 2, 500)
    predictions = np.where(rng.random(500) < 0.8, labels, 1 - labels)

    def accuracy(seeds: np.ndarray, units: np.ndarray) -> float:
        return float((predictions[units] == labels[units]).mean())

    generic = statistic_interval(accuracy, 1, 500, resamples=4000, seed=11)
    ratio = ratio_interval((predictions == labels).astype(float), np.ones(500), resamples=4000, seed=12)
    assert generic.estimate == pytest.approx(ratio.estimate)
    assert generic.low == pytest.approx(ratio.low, abs=0.01) and generic.high == pytest.approx(ratio.high, abs=0.01)


@pytest.mark.parametrize(
    ("low", "high", "higher_is_better", "expected"),
    [(0.01, 0.03, True, BETTER), (-0.03, -0.01, True, WORSE), (-0.01, 0.02, True, TIE),
     (0.01, 0.03, False, WORSE), (-0.03, -0.01, False, BETTER)],
)
def test_verdicts(low: float, high: float, higher_is_better: bool, expected: str) -> None:
    assert verdict(Interval((low + high) / 2, low, high), higher_is_better) == expected


def test_verdicts_on_constructed_strategies() -> None:
    """A clear win, a clear loss and a tie on the same 400 blocks."""
    rng = np.random.default_rng(13)
    tokens = rng.integers(10, 31, 400)
    base = rng.uniform(0.1, 0.5, 400)
    correct = rng.binomial(tokens, base).astype(float)
    reference = (correct, tokens.astype(float))
    for shift, expected in ((0.08, BETTER), (-0.08, WORSE)):
        other = (rng.binomial(tokens, np.clip(base + shift, 0, 1)).astype(float), tokens.astype(float))
        assert verdict(paired_difference(reference, other, seed=14)) == expected
    # A tie: the same predictions but one more token right in one block and one fewer in another.
    swapped = correct.copy()
    swapped[0] += 1
    swapped[1] -= 1
    assert verdict(paired_difference(reference, (swapped, tokens.astype(float)), seed=14)) == TIE


def test_scale_to_resolve() -> None:
    assert scale_to_resolve(Interval(0.01, -0.01, 0.03)) == pytest.approx(4.0)
    assert scale_to_resolve(Interval(0.0, -0.01, 0.01)) is None


def test_the_report_names_each_verdict_as_the_readme_does():
    """The README reads verdicts as better / worse / not distinguishable; the report's cells said "tie"."""
    from mlmkit.compare.report import _difference_cell

    interval = {"estimate": 0.004, "low": -0.01, "high": 0.02}
    assert _difference_cell({"interval": interval, "verdict": "not distinguishable"}, "token_accuracy") == "+0.40 [-1.00, +2.00] not distinguishable"
    assert _difference_cell({"interval": {"estimate": 0.03, "low": 0.01, "high": 0.05}, "verdict": "better"}, "token_accuracy").endswith("**better**")


def test_the_conclusion_says_whose_noise_one_pretraining_run_excludes():
    """With one pretraining run per strategy the report said "Beyond noise", though its intervals hold
    held-out blocks and fine-tuning seeds only."""
    from mlmkit.compare.analysis import conclusions

    worse = {"verdict": "worse", "interval": {"estimate": -0.02, "low": -0.03, "high": -0.01}, "scale_to_resolve": None}
    mlm = {"span": {"token_accuracy": {"vs_reference": worse}}}
    one = conclusions(mlm, {}, "random", "no pretraining", pretrain_seeds=1)
    assert one[0].startswith("Beyond the noise of held-out blocks and fine-tuning seeds (one pretraining run each): span is worse")
    assert conclusions(mlm, {}, "random", "no pretraining", pretrain_seeds=3)[0].startswith("Beyond noise: span is worse")
