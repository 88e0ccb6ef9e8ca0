"""Official SQuAD EM/F1 on hand-computed cases, and the v2.0 no-answer threshold sweep."""

from __future__ import annotations

import pytest

from mlmkit.eval.squad.data import Answer, SquadExample
from mlmkit.eval.squad.metrics import evaluate_v1, evaluate_v2, exact_match, normalize_answer, token_f1


def example(qid: str, *answers: str) -> SquadExample:
    return SquadExample(qid, "t", "q?", "ctx", tuple(Answer(a, 0) for a in answers), is_impossible=not answers)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("The Quick, Brown fox!", "quick brown fox"),
        ("  an   apple\tand\na pear ", "apple and pear"),
        ("Theory of the A-team", "theory of ateam"),  # "a" inside a word stays; the hyphen goes
        ("U.S. $5.00", "us 500"),
        ("anthem", "anthem"),  # articles only as whole words
        ("THE", ""),
    ],
)
def test_normalize_answer(raw: str, normal: str) -> None:
    assert normalize_answer(raw) == normal


def test_exact_match_ignores_case_punctuation_articles_and_space() -> None:
    assert exact_match("the Black  Death.", "Black Death") == 1.0
    assert exact_match("Black Deaths", "Black Death") == 0.0


def test_token_f1_hand_computed() -> None:
    # pred {cat, sat}, gold {cat, sat, down}: P = 1, R = 2/3, F1 = 0.8
    assert token_f1("The cat sat", "a cat sat down") == pytest.approx(0.8)
    # repeated tokens count with multiplicity: "cat cat cat" vs "cat": P = 1/3, R = 1 -> 0.5
    assert token_f1("cat cat cat", "cat") == pytest.approx(0.5)
    assert token_f1("dog", "cat") == 0.0
    assert token_f1("", "") == 1.0  # v2.0: a correct abstention
    assert token_f1("", "", empty_matches_empty=False) == 0.0  # v1.1 script: no common tokens
    assert token_f1("", "cat") == 0.0


def test_evaluate_v1_takes_max_over_golds_and_scores_missing_as_zero() -> None:
    examples = [example("a", "Paris", "the city of Paris"), example("b", "1347 to 1351"), example("c", "x")]
    predictions = {"a": "city of Paris!", "b": "1347"}
    results = evaluate_v1(examples, predictions)
    # a: EM 1 (matches gold 2), F1 1; b: EM 0, F1: P = 1, R = 1/3 -> 0.5; c: missing -> 0
    assert results["exact_match"] == pytest.approx(100 / 3)
    assert results["f1"] == pytest.approx(100 * 1.5 / 3)


def test_evaluate_v2_breakdown_and_best_threshold() -> None:
    examples = [example("h1", "red"), example("h2", "blue sky"), example("n1"), example("n2")]
    spans = {"h1": "red", "h2": "blue", "n1": "green", "n2": "grey"}
    # no-answer scores: a threshold between 0.5 and 2.0 answers h1, h2 and abstains on n1, n2
    na = {"h1": -1.0, "h2": 0.5, "n1": 2.0, "n2": 3.0}
    results = evaluate_v2(examples, spans, na, na_prob_thresh=0.0)
    # at 0.0: h1 answered (1), h2 abstains (0), n1 n2 abstain (1 each)
    assert results["exact"] == pytest.approx(75.0)
    assert results["f1"] == pytest.approx(75.0)
    assert results["HasAns_exact"] == pytest.approx(50.0) and results["HasAns_total"] == 2
    assert results["NoAns_exact"] == pytest.approx(100.0) and results["NoAns_total"] == 2
    # sweep: h1 +1 -> 3 (thresh -1.0); h2 exact +0 / F1 +2/3 -> F1 best at 0.5
    assert results["best_exact"] == pytest.approx(75.0) and results["best_exact_thresh"] == -1.0
    assert results["best_f1"] == pytest.approx(100 * (3 + 2 / 3) / 4)
    assert results["best_f1_thresh"] == 0.5
    assert results["exact_match"] == results["exact"]


def test_evaluate_v2_without_na_scores_scores_empty_prediction_as_abstention() -> None:
    examples = [example("h", "red"), example("n")]
    results = evaluate_v2(examples, {"h": "red", "n": ""})
    assert results["exact"] == 100.0 and results["NoAns_f1"] == 100.0
    assert evaluate_v2(examples, {"h": "", "n": "red"})["exact"] == 0.0
