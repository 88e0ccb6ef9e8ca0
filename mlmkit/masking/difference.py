"""Difference-Masking (Wilf et al., Findings EMNLP 2023): mask what makes the domain different.

Each word's score is its similarity to the target domain's anchor words, precomputed by
`mlmkit stats difference` (a hash → score table, so the collator runs no encoder). Per sequence, as the
paper's code does (`get_masked_indices_alpha`): words are ranked by score and the word at rank r (0 = most
similar) of n gets weight n - r (`weighting="rank"`; `"score"` uses the transformed score itself); weights
are normalised and mixed with uniform, p ← α·p + (1 - α)/n (α = 1: no mix). Words the table lacks (rarer
than its `max_words` most frequent target words) get the table's median score: neither favoured nor
avoided; tied words share the higher weight. Words are then drawn without replacement with these
probabilities until round(rate × maskable tokens) is reached (exact count; the word crossing the budget
is taken whole). The paper draws subword tokens with the word's weight; we draw whole words, so a domain
term is masked as one unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from mlmkit.errors import MlmkitError
from mlmkit.masking.rom import mix_with_uniform
from mlmkit.stats.artifact import load_stats
from mlmkit.stats.hashing import batch_word_hashes, lookup

WEIGHTINGS = ("rank", "score")


@dataclass(frozen=True, eq=False)
class DifferenceMasker:
    """Whole-word masking weighted by similarity to the target domain's anchors.

    Args:
        stats: file written by `mlmkit stats difference`.
        alpha: weight of the similarity distribution against uniform (1 = the paper's default, no mix).
        weighting: "rank" (the paper) or "score".
        corrupt_per_unit: draw 80/10/10 once per word.
    """

    stats: str | Path | None = None
    alpha: float = 1.0
    weighting: str = "rank"
    corrupt_per_unit: bool = True
    word_table: torch.Tensor = field(init=False, repr=False, default=None)  # sorted word hashes
    word_scores: torch.Tensor = field(init=False, repr=False, default=None)

    needs_words: ClassVar[bool] = True
    truncatable: ClassVar[bool] = False

    @classmethod
    def build(cls, tokenizer: Any, **options: Any) -> "DifferenceMasker":
        """Check the options and load the word-score table built for this tokenizer."""
        masker = cls(**options)
        if masker.weighting not in WEIGHTINGS:
            raise MlmkitError(f"weighting={masker.weighting!r} is not known; choose one of {WEIGHTINGS}")
        if not 0.0 <= masker.alpha <= 1.0:
            raise MlmkitError(f"alpha={masker.alpha} must be in [0, 1] (1: similarity only, 0: uniform)")
        loaded = load_stats(masker.stats, tokenizer, "difference")
        order = loaded.tensors["word_hashes"].argsort()
        object.__setattr__(masker, "word_table", loaded.tensors["word_hashes"][order])
        object.__setattr__(masker, "word_scores", loaded.tensors["scores"][order])
        return masker

    def word_weights(self, input_ids: torch.Tensor, word_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(weights FloatTensor (B, W) before mixing, exists BoolTensor (B, W))."""
        hashes, exists, _ = batch_word_hashes(input_ids, word_ids)
        found, index = lookup(self.word_table, hashes)
        median = float(self.word_scores.median()) if self.word_scores.numel() else 0.0
        scores = torch.where(found, self.word_scores[index] if self.word_scores.numel() else 0.0, median)
        if self.weighting == "score":
            return scores.clamp(min=0.0) * exists, exists
        # Rank weight n - r == the number of the row's words scoring <= this one (ties share it).
        ordered = scores.masked_fill(~exists, torch.inf).sort(dim=1).values
        return torch.searchsorted(ordered, scores.contiguous(), right=True).float() * exists, exists

    def units(
        self,
        input_ids: torch.Tensor,
        maskable: torch.Tensor,
        word_ids: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Word units (B, T) with probabilities (B, W) from the similarity ranks."""
        assert word_ids is not None, "the collator passes word_ids to maskers with needs_words"
        if word_ids.numel() == 0 or int(word_ids.max()) < 0:
            return word_ids, None
        weights, exists = self.word_weights(input_ids, word_ids)
        return word_ids, mix_with_uniform(weights, exists, 1.0 - self.alpha)
