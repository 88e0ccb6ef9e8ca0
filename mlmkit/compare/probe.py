"""What a strategy actually masks: statistics of its collator on fixed held-out blocks.

These numbers let a comparison show that each run really used its own strategy (span masking
masks longer runs, whole-word masking completes words, informed strategies avoid function
words), and they are computed the same way for every strategy.
"""

from __future__ import annotations

from typing import Any

import torch

from mlmkit.masking.corruption import IGNORE_INDEX
from mlmkit.masking.word_classes import lexicon_class


def masking_statistics(collator: Any, blocks: Any, tokenizer: Any, batch_size: int = 16, batches: int = 8) -> dict[str, float]:
    """Collate up to `batches` batches of `blocks` and measure the selection.

    Args:
        collator: a mlmkit collator (its schedule, if any, is read at progress 0).
        blocks: a `datasets.Dataset` of prepared blocks (`input_ids`, `word_ids`, ...).
        tokenizer: the tokenizer, to name masked tokens' classes.

    Returns:
        masking_rate (labelled / maskable tokens), mean_masked_run (mean length of contiguous
        labelled runs, in tokens), whole_word_share (share of touched words masked entirely) and
        function_word_share (share of labelled tokens that are closed-class words or punctuation).
    """
    collator.set_epoch(0, start_batch=0)
    if collator.schedule is not None and collator.total_batches is None:
        collator.set_total_batches(1)
    classes = torch.tensor(
        [lexicon_class(t or "") in ("function", "punct") for t in tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))]
    )
    totals = dict(labelled=0, maskable=0, runs=0, touched_words=0, whole_words=0, function=0)
    rows = min(len(blocks), batch_size * batches)
    for start in range(0, rows, batch_size):
        features = [blocks[i] for i in range(start, min(start + batch_size, rows))]
        batch = collator(features)
        labelled = batch["labels"] != IGNORE_INDEX  # (B, T)
        word_ids = torch.tensor([f["word_ids"] for f in features])  # (B, T), -1 = special/pad
        totals["labelled"] += int(labelled.sum())
        totals["maskable"] += int((word_ids >= 0).sum())
        run_starts = labelled.clone()
        run_starts[:, 1:] &= ~labelled[:, :-1]
        totals["runs"] += int(run_starts.sum())
        totals["function"] += int(classes[batch["labels"][labelled]].sum())
        _count_words(word_ids, labelled, totals)
    return {
        "masking_rate": totals["labelled"] / max(totals["maskable"], 1),
        "mean_masked_run": totals["labelled"] / max(totals["runs"], 1),
        "whole_word_share": totals["whole_words"] / max(totals["touched_words"], 1),
        "function_word_share": totals["function"] / max(totals["labelled"], 1),
    }


def _count_words(word_ids: torch.Tensor, labelled: torch.Tensor, totals: dict[str, int]) -> None:
    """Add the words with any labelled piece, and those with all pieces labelled, to `totals`."""
    offset = (word_ids.max() + 1).clamp(min=1)
    real = word_ids >= 0
    keys = (torch.arange(word_ids.shape[0])[:, None] * offset + word_ids)[real]  # a unique id per (row, word)
    size = torch.bincount(keys)
    masked = torch.bincount(keys, weights=labelled[real].float())
    totals["touched_words"] += int((masked > 0).sum())
    totals["whole_words"] += int(((masked == size) & (size > 0)).sum())
