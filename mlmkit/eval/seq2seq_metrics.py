"""ROUGE-L and BLEU of generated text, computed by the reference packages so scores compare with published ones.

- **ROUGE-L** (Lin 2004, §3.1): Google's `rouge-score` (`RougeScorer(["rougeL"])`, its own tokenizer:
  lower-cased alphanumeric tokens, no stemming), the sentence-level LCS F-measure averaged over the corpus,
  as Hugging Face `evaluate`'s "rouge" reports `rougeL`.
- **BLEU** (Papineni et al. 2002): `sacrebleu.corpus_bleu` with its defaults (13a tokenisation, case kept,
  exponential smoothing), one reference per prediction: the sacreBLEU numbers papers quote.

Both on a 0–100 scale. The two packages come with the `seq2seq` extra (`pip install 'mlmkit[seq2seq]'`).
"""

from __future__ import annotations

from collections.abc import Sequence

from mlmkit.errors import MlmkitError


def generation_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """`{"rouge_l": ..., "bleu": ...}` on a 0–100 scale for detokenised prediction and reference strings.

    Raises:
        ValueError: the two lists differ in length.
        MlmkitError: rouge-score or sacrebleu is not installed.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references; pass one reference per prediction")
    try:
        import sacrebleu
        from rouge_score import rouge_scorer
    except ImportError as error:
        raise MlmkitError(f"ROUGE-L and BLEU need rouge-score and sacrebleu ({error.name} is missing): pip install 'mlmkit[seq2seq]'") from None
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rouge = [scorer.score(reference, prediction)["rougeL"].fmeasure for prediction, reference in zip(predictions, references)]
    bleu = sacrebleu.corpus_bleu(list(predictions), [list(references)]).score
    return {"rouge_l": 100 * sum(rouge) / max(1, len(rouge)), "bleu": bleu}
