"""Offline text-generation metrics: ROUGE-L (LCS F-measure) and corpus BLEU-4.

Pure functions on token lists, no downloads and no third-party scorer, so that the numbers
`mlmkit seq2seq` prints are reproducible anywhere. Definitions:

- **ROUGE-L** (Lin 2004, §3.1): with LCS the longest common subsequence of a prediction of
  length c and a reference of length r, recall R = LCS/r, precision P = LCS/c and
  F = 2PR/(P+R) (β = 1, the convention of Google's `rouge_score`); the corpus score is the
  mean of the sentence F-measures. No stemming and no stop-word removal.
- **BLEU-4** (Papineni et al. 2002, §2): corpus-level modified n-gram precisions p_n
  (n = 1..4; each n-gram count clipped by its count in the reference; clipped counts and
  candidate counts summed over the corpus before dividing), geometric mean with uniform
  weights 1/4, times the brevity penalty BP = 1 if c > r else exp(1 − r/c), with c and r the
  total candidate and reference lengths. One reference per prediction, no smoothing: a
  corpus without any matching 4-gram scores 0, as in the paper and sacreBLEU. (NLTK's
  `corpus_bleu` differs for sentences shorter than n: it counts max(1, ·) candidate n-grams
  per sentence, which lowers its score; on corpora of sentences ≥ 4 tokens the two agree.)

Both are reported on a 0–100 scale. `metric_tokens` defines the tokenisation shared by both.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Sequence

# Words (letters/digits, with inner apostrophes) or single punctuation marks, so that
# "end." and "end ." score the same; lower-cased, as most ROUGE/BLEU set-ups for English.
_TOKEN_PATTERN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def metric_tokens(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens of `text`, the unit both metrics count."""
    return _TOKEN_PATTERN.findall(text.lower())


def lcs_length(first: Sequence[str], second: Sequence[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, O(len·len) time, O(len) memory)."""
    if len(first) < len(second):
        first, second = second, first
    previous = [0] * (len(second) + 1)
    for token in first:
        current = [0]
        for j, other in enumerate(second):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(prediction: Sequence[str], reference: Sequence[str]) -> float:
    """Sentence ROUGE-L F-measure (β = 1) in [0, 1]; 0 when either side is empty."""
    common = lcs_length(prediction, reference)
    if common == 0:
        return 0.0
    precision = common / len(prediction)
    recall = common / len(reference)
    return 2 * precision * recall / (precision + recall)


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """Corpus BLEU in [0, 1] of tokenised predictions against one tokenised reference each (Papineni 2002)."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references; pass one reference per prediction")
    clipped = [0] * max_n
    totals = [0] * max_n
    for prediction, reference in zip(predictions, references):
        for n in range(1, max_n + 1):
            candidate_counts = _ngrams(prediction, n)
            reference_counts = _ngrams(reference, n)
            clipped[n - 1] += sum(min(count, reference_counts[gram]) for gram, count in candidate_counts.items())
            totals[n - 1] += max(0, len(prediction) - n + 1)
    if min(clipped) == 0:
        return 0.0
    log_precision = sum(math.log(c / t) for c, t in zip(clipped, totals)) / max_n
    candidate_length = sum(len(p) for p in predictions)
    reference_length = sum(len(r) for r in references)
    brevity = 1.0 if candidate_length > reference_length else math.exp(1 - reference_length / candidate_length)
    return brevity * math.exp(log_precision)


def generation_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """`{"rouge_l": ..., "bleu": ...}` on a 0–100 scale for detokenised prediction and reference strings."""
    predicted = [metric_tokens(text) for text in predictions]
    expected = [metric_tokens(text) for text in references]
    rouge = sum(rouge_l(p, r) for p, r in zip(predicted, expected)) / max(1, len(expected))
    return {"rouge_l": 100 * rouge, "bleu": 100 * corpus_bleu(predicted, expected)}
