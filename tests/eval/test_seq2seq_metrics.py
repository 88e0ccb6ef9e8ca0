"""Golden values for the offline ROUGE-L and BLEU used by `mlmkit seq2seq` (hand-computed fixtures)."""

from __future__ import annotations

import math

import pytest

from mlmkit.eval.seq2seq_metrics import corpus_bleu, generation_scores, lcs_length, metric_tokens, rouge_l


def test_metric_tokens_split_punctuation_and_lowercase():
    assert metric_tokens("The end. Don't, stop!") == ["the", "end", ".", "don't", ",", "stop", "!"]
    assert metric_tokens("end .") == metric_tokens("end.")


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [("abcbdab", "bdcaba", 4), ("abc", "abc", 3), ("abc", "", 0), ("abc", "xyz", 0), ("ab", "ba", 1)],
)
def test_lcs_length_golden(first, second, expected):
    assert lcs_length(list(first), list(second)) == expected
    assert lcs_length(list(second), list(first)) == expected


def test_rouge_l_golden():
    # LCS("a b c d", "a c e") = "a c": P = 2/4, R = 2/3, F = 2PR/(P+R) = 4/7.
    assert rouge_l("a b c d".split(), "a c e".split()) == pytest.approx(4 / 7)
    # LCS = "the cat on the mat" (5 of 6 on both sides): F = 5/6.
    assert rouge_l("the cat sat on the mat".split(), "the cat is on the mat".split()) == pytest.approx(5 / 6)
    assert rouge_l([], ["a"]) == 0.0
    assert rouge_l(["a"], []) == 0.0
    assert rouge_l(["a", "b"], ["a", "b"]) == 1.0


def test_corpus_bleu_golden_sums_counts_over_the_corpus():
    predictions = [list("abcde"), list("xy")]
    references = [list("abcdfg"), list("xy")]
    # Clipped/total n-gram counts summed over both sentences: p1 = 6/7, p2 = 4/5, p3 = 2/3, p4 = 1/2
    # ("x y" has no 3- or 4-grams, so it adds nothing there); c = 7 < r = 8 -> BP = exp(1 - 8/7).
    expected = math.exp(1 - 8 / 7) * (6 / 7 * 4 / 5 * 2 / 3 * 1 / 2) ** 0.25
    assert corpus_bleu(predictions, references) == pytest.approx(expected)


def test_corpus_bleu_brevity_penalty_only_when_shorter():
    reference = list("abcdefgh")
    assert corpus_bleu([reference], [reference]) == pytest.approx(1.0)
    longer = reference + ["z"]
    # No penalty when longer: p_n = (9-n)/(10-n) for n = 1..4 (the extra token matches nothing).
    expected = (8 / 9 * 7 / 8 * 6 / 7 * 5 / 6) ** 0.25
    assert corpus_bleu([longer], [reference]) == pytest.approx(expected)


def test_corpus_bleu_clips_repeated_ngrams_and_is_zero_without_4gram_match():
    # "the the the the" vs "the cat": unigram clipped to 1 of 4, no bigram matches -> 0 (no smoothing).
    assert corpus_bleu([["the"] * 4], [["the", "cat"]]) == 0.0


def test_corpus_bleu_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="one reference per prediction"):
        corpus_bleu([["a"]], [])


def test_generation_scores_on_strings():
    scores = generation_scores(["The cat sat on the mat."], ["the cat sat on the mat ."])
    assert scores == {"rouge_l": pytest.approx(100.0), "bleu": pytest.approx(100.0)}
