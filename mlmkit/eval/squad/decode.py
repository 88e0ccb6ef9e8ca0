"""From start/end logits over windows to one answer text (and a no-answer score) per question.

BERT §4.2-4.3 and its run_squad.py: the score of span (i, j) is start_logit[i] + end_logit[j];
the best span has j >= i, at most `max_answer_length` tokens, both ends inside the context.
Candidates come from the n-best start and end positions of every window of the question. For
v2.0 the no-answer score is start+end at [CLS] (the lowest over the windows, as in BERT's
script) and a question is answered "" when null score - best span score exceeds a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mlmkit.eval.squad.data import SquadExample
from mlmkit.eval.squad.features import Windows

NEG_INF = float("-inf")


@dataclass(frozen=True)
class Decoded:
    """The best non-null span of a question and its no-answer margin.

    Attributes:
        text: the best span's text in the context ("" if no valid span exists in any window).
        score: start + end logit of that span (-inf when none).
        null_score: the lowest [CLS] start + end logit over the question's windows.
    """

    text: str
    score: float
    null_score: float

    @property
    def score_diff(self) -> float:
        """null_score - best span score: the v2.0 no-answer score (BERT's `null_odds`)."""
        return self.null_score - self.score


def _best_span_in_window(
    start_logits: torch.Tensor, end_logits: torch.Tensor, is_context: torch.Tensor, n_best: int, max_answer_length: int
) -> tuple[float, int, int]:
    """(score, start, end) of the best valid span among the n-best starts x n-best ends; score -inf if none."""
    start_scores = start_logits.masked_fill(~is_context, NEG_INF)
    end_scores = end_logits.masked_fill(~is_context, NEG_INF)
    k = min(n_best, int(is_context.sum()))
    if k == 0:
        return NEG_INF, 0, 0
    top_start, start_index = start_scores.topk(k)
    top_end, end_index = end_scores.topk(k)
    pair = top_start[:, None] + top_end[None, :]  # (k, k)
    length = end_index[None, :] - start_index[:, None]
    pair = pair.masked_fill((length < 0) | (length >= max_answer_length), NEG_INF)
    flat = int(pair.argmax())
    row, col = divmod(flat, k)
    return float(pair[row, col]), int(start_index[row]), int(end_index[col])


def decode_windows(
    examples: list[SquadExample],
    windows: Windows,
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    *,
    n_best: int = 20,
    max_answer_length: int = 30,
) -> dict[str, Decoded]:
    """Best span and null score for every question that has at least one window.

    Args:
        start_logits, end_logits: (W, T) logits for the W windows in `windows`.
    """
    assert start_logits.shape == end_logits.shape and len(start_logits) == len(windows)
    best: dict[int, Decoded] = {}
    for window, index in enumerate(windows.example_index):
        offsets = windows.offsets[window]
        is_context = torch.tensor([span is not None for span in offsets])
        score, start, end = _best_span_in_window(
            start_logits[window].float(), end_logits[window].float(), is_context, n_best, max_answer_length
        )
        cls = windows.cls_index[window]
        null_score = float(start_logits[window, cls] + end_logits[window, cls])
        previous = best.get(index, Decoded("", NEG_INF, float("inf")))
        text, span_score = previous.text, previous.score
        if score > span_score:
            context = examples[index].context
            text, span_score = context[offsets[start][0] : offsets[end][1]], score
        best[index] = Decoded(text, span_score, min(previous.null_score, null_score))
    return {examples[index].id: decoded for index, decoded in best.items()}


def final_predictions(decoded: dict[str, Decoded], version: str, null_threshold: float = 0.0) -> dict[str, str]:
    """Official-format predictions: v2.0 answers "" where score_diff > `null_threshold`."""
    if version == "1.1":
        return {qid: d.text for qid, d in decoded.items()}
    return {qid: "" if d.score_diff > null_threshold else d.text for qid, d in decoded.items()}
