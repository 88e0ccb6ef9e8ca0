"""SQuAD EM / F1 as the official evaluation scripts define them (v1.1 and v2.0), written from
their specification: answer normalisation, token-overlap F1, max over gold answers, and for
v2.0 the HasAns/NoAns breakdown and the best no-answer threshold.

Rajpurkar et al. 2016 §5 (v1.1) and 2018 (v2.0): answers are compared after lower-casing and
removing punctuation, the articles a/an/the and extra white space.
"""

from __future__ import annotations

import collections
import re
import string
from typing import Iterable, Mapping

from mlmkit.eval.squad.data import SquadExample

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation, drop the articles a/an/the, collapse white space (official order)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 if the normalised strings are equal."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str, *, empty_matches_empty: bool = True) -> float:
    """Bag-of-tokens F1 of the normalised answers.

    `empty_matches_empty`: v2.0 scores an empty prediction against an empty gold as 1 (a correct
    abstention); the v1.1 script scores it 0 (no common tokens). Either way an empty side
    against a non-empty one scores 0.
    """
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if empty_matches_empty and (not pred_tokens or not gold_tokens):
        return float(pred_tokens == gold_tokens)
    common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def gold_texts(example: SquadExample, version: str) -> list[str]:
    """The gold answers scored against: v2.0 keeps those non-empty after normalisation, and uses
    [""] for unanswerable questions; v1.1 keeps them all."""
    texts = [answer.text for answer in example.answers]
    if version == "1.1":
        return texts
    return [text for text in texts if normalize_answer(text)] or [""]


def _raw_scores(
    examples: Iterable[SquadExample], predictions: Mapping[str, str], version: str
) -> tuple[dict[str, float], dict[str, float]]:
    exact, f1 = {}, {}
    for example in examples:
        prediction = predictions.get(example.id, "")
        golds = gold_texts(example, version)
        exact[example.id] = max(exact_match(prediction, gold) for gold in golds)
        f1[example.id] = max(token_f1(prediction, gold, empty_matches_empty=version != "1.1") for gold in golds)
    return exact, f1


def evaluate_v1(examples: list[SquadExample], predictions: Mapping[str, str]) -> dict[str, float]:
    """The v1.1 script's `{"exact_match", "f1"}` in percent; a missing prediction scores 0."""
    exact, f1 = _raw_scores(examples, predictions, "1.1")
    total = max(1, len(examples))
    return {"exact_match": 100.0 * sum(exact.values()) / total, "f1": 100.0 * sum(f1.values()) / total}


def _apply_threshold(
    scores: dict[str, float], na_probs: Mapping[str, float], has_answer: dict[str, bool], threshold: float
) -> dict[str, float]:
    """Where the no-answer score exceeds `threshold` the prediction becomes "": right iff unanswerable."""
    return {qid: float(not has_answer[qid]) if na_probs[qid] > threshold else s for qid, s in scores.items()}


def _mean(scores: dict[str, float], qids: list[str]) -> float:
    return 100.0 * sum(scores[qid] for qid in qids) / len(qids) if qids else 0.0


def find_best_threshold(
    predictions: Mapping[str, str],
    scores: dict[str, float],
    na_probs: Mapping[str, float],
    has_answer: dict[str, bool],
) -> tuple[float, float]:
    """Sweep the no-answer threshold over the sorted no-answer scores, as the v2.0 script does.

    Start with every question abstaining (score = number of unanswerable ones); lowering the
    bar for each question in order of no-answer score turns it into an answer, gaining its
    score if answerable and losing one if unanswerable but answered. Returns (best score in
    percent, threshold); the threshold stays 0.0 when abstaining everywhere is best.
    """
    current = best = float(sum(not has for has in has_answer.values()))
    best_threshold = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if has_answer[qid]:
            current += scores[qid]
        elif predictions[qid]:
            current -= 1
        if current > best:
            best, best_threshold = current, na_probs[qid]
    return 100.0 * best / max(1, len(scores)), best_threshold


def evaluate_v2(
    examples: list[SquadExample],
    predictions: Mapping[str, str],
    na_probs: Mapping[str, float] | None = None,
    na_prob_thresh: float = 1.0,
) -> dict[str, float]:
    """The v2.0 script's output: exact, f1, total, HasAns_*/NoAns_* and best_exact/best_f1 with thresholds.

    `na_probs` are per-question no-answer scores (0 for all if None): a prediction is replaced by
    "" where its score exceeds `na_prob_thresh`. We also return `exact_match` (= `exact`), the
    name the v1.1 script and the GLUE/SQuAD tables use.
    """
    qids = [example.id for example in examples]
    # The official script's has-answer test is "the answers list is non-empty".
    has_answer = {example.id: bool(example.answers) for example in examples}
    na_probs = {qid: 0.0 for qid in qids} if na_probs is None else {qid: float(na_probs[qid]) for qid in qids}
    predictions = {qid: predictions.get(qid, "") for qid in qids}
    exact_raw, f1_raw = _raw_scores(examples, predictions, "2.0")
    exact = _apply_threshold(exact_raw, na_probs, has_answer, na_prob_thresh)
    f1 = _apply_threshold(f1_raw, na_probs, has_answer, na_prob_thresh)
    has_ids = [qid for qid in qids if has_answer[qid]]
    no_ids = [qid for qid in qids if not has_answer[qid]]
    results = {"exact": _mean(exact, qids), "f1": _mean(f1, qids), "total": len(qids)}
    if has_ids:
        results.update(HasAns_exact=_mean(exact, has_ids), HasAns_f1=_mean(f1, has_ids), HasAns_total=len(has_ids))
    if no_ids:
        results.update(NoAns_exact=_mean(exact, no_ids), NoAns_f1=_mean(f1, no_ids), NoAns_total=len(no_ids))
    best_exact, best_exact_thresh = find_best_threshold(predictions, exact_raw, na_probs, has_answer)
    best_f1, best_f1_thresh = find_best_threshold(predictions, f1_raw, na_probs, has_answer)
    results.update(
        best_exact=best_exact, best_exact_thresh=best_exact_thresh, best_f1=best_f1, best_f1_thresh=best_f1_thresh
    )
    results["exact_match"] = results["exact"]
    return results
