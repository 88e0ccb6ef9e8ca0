"""ROUGE-L and BLEU of `mlmkit seq2seq` come from rouge-score and sacrebleu: golden values computed by hand."""

from __future__ import annotations

import math
import sys

import pytest

from mlmkit.errors import MlmkitError
from mlmkit.eval.seq2seq_metrics import generation_scores


def test_identical_text_scores_100_and_rouge_ignores_case_and_punctuation():
    assert generation_scores(["The cat sat on the mat."], ["The cat sat on the mat."]) == {"rouge_l": 100.0, "bleu": pytest.approx(100.0)}
    assert generation_scores(["the cat sat on the mat"], ["The cat sat on the mat ."])["rouge_l"] == pytest.approx(100.0)


def test_rouge_l_is_the_mean_sentence_lcs_f_measure():
    # LCS("a b c d", "a c e") = "a c": P = 2/4, R = 2/3, F = 4/7; second pair identical: F = 1.
    scores = generation_scores(["a b c d", "x y"], ["a c e", "x y"])
    assert scores["rouge_l"] == pytest.approx(100 * (4 / 7 + 1) / 2)


def test_bleu_is_corpus_level_with_brevity_penalty():
    # "a b c d e" vs "a b c d f g": p1..p4 = 4/5, 3/4, 2/3, 1/2 (all > 0, so smoothing plays no part);
    # c = 5 < r = 6 -> BP = exp(1 - 6/5).
    expected = 100 * math.exp(1 - 6 / 5) * (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert generation_scores(["a b c d e"], ["a b c d f g"])["bleu"] == pytest.approx(expected)


def test_mismatched_lengths_and_missing_packages_fail_clearly(monkeypatch):
    with pytest.raises(ValueError, match="one reference per prediction"):
        generation_scores(["a"], [])
    monkeypatch.setitem(sys.modules, "sacrebleu", None)
    with pytest.raises(MlmkitError, match=r"sacrebleu is missing\): pip install 'mlmkit\[seq2seq\]'"):
        generation_scores(["a"], ["a"])
