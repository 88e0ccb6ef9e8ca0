"""GLUE metrics: golden hand-computed values, and agreement with scikit-learn / scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as sk

from mlmkit.eval.metrics import (
    accuracy,
    average_ranks,
    compute_metrics,
    f1,
    matthews_correlation,
    pearson,
    spearman,
)

# Golden fixture: predictions 1 1 0 1 0 0, references 1 0 0 1 1 0
# TP=2 FP=1 FN=1 TN=2 -> accuracy 4/6, F1 = 2*2/(2*2+1+1) = 2/3,
# MCC = (2*2 - 1*1) / sqrt(3*3*3*3) = 3/9 = 1/3.
PRED = [1, 1, 0, 1, 0, 0]
REF = [1, 0, 0, 1, 1, 0]


def test_golden_classification_values():
    assert accuracy(PRED, REF) == pytest.approx(4 / 6)
    assert f1(PRED, REF) == pytest.approx(2 / 3)
    assert matthews_correlation(PRED, REF) == pytest.approx(1 / 3)


def test_golden_correlations_with_ties():
    # x ranks with ties: [1, 2.5, 2.5, 4]; y = 2x has the same ranks -> Spearman 1, Pearson 1.
    assert average_ranks([1.0, 2.0, 2.0, 3.0]).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert spearman([1, 2, 2, 3], [2, 4, 4, 6]) == pytest.approx(1.0)
    # Perfectly anti-correlated.
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # Centred (-1.5,-.5,.5,1.5) . (-1.5,.5,-.5,1.5) = 4, both squared norms 5 -> r = 4/5.
    assert pearson([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)


def test_degenerate_cases_follow_sklearn_and_scipy_conventions():
    assert f1([0, 0, 0], [0, 0, 0]) == 0.0  # sklearn zero_division=0
    assert matthews_correlation([1, 1, 1], [0, 1, 0]) == 0.0  # sklearn returns 0 for a constant side
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))  # scipy: NaN (undefined)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="as many predictions as references"):
        accuracy([0, 1], [0])


@pytest.mark.parametrize("seed", range(5))
def test_classification_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    references = rng.integers(0, 2, size=200)
    predictions = np.where(rng.random(200) < 0.7, references, 1 - references)  # correlated, as real outputs
    assert accuracy(predictions, references) == pytest.approx(sk.accuracy_score(references, predictions))
    assert f1(predictions, references) == pytest.approx(sk.f1_score(references, predictions))
    assert matthews_correlation(predictions, references) == pytest.approx(
        sk.matthews_corrcoef(references, predictions)
    )
    multiclass_ref, multiclass_pred = rng.integers(0, 3, size=300), rng.integers(0, 3, size=300)
    assert matthews_correlation(multiclass_pred, multiclass_ref) == pytest.approx(
        sk.matthews_corrcoef(multiclass_ref, multiclass_pred)
    )


@pytest.mark.parametrize("seed", range(5))
def test_correlations_match_scipy(seed):
    rng = np.random.default_rng(seed)
    references = np.round(rng.uniform(0, 5, size=300), 1)  # STS-B-like scores, many ties
    predictions = references + rng.normal(0, 1.5, size=300)
    assert pearson(predictions, references) == pytest.approx(stats.pearsonr(predictions, references)[0])
    assert spearman(predictions, references) == pytest.approx(stats.spearmanr(predictions, references)[0])
    tied = np.round(predictions)  # ties on both sides
    assert spearman(tied, references) == pytest.approx(stats.spearmanr(tied, references)[0])
    assert average_ranks(tied).tolist() == pytest.approx(stats.rankdata(tied).tolist())


def test_compute_metrics_uses_glue_names():
    assert compute_metrics(("f1", "accuracy"), PRED, REF) == pytest.approx({"f1": 2 / 3, "accuracy": 4 / 6})
