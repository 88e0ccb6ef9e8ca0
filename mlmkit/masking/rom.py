"""ROM, Retrieval Oriented Masking (Long et al. 2022): mask important terms more often.

A token's chance of being masked is proportional to its term-importance weight, mixed with uniform masking
so that every token keeps some chance (ROM keeps random masking for a share of positions):

    p(t) = (1 - mix_ratio) · w(t) / Σ_row w + mix_ratio / n_row

with w = the corpus IDF (`weighting="idf"`) or the passage's BM25 term weight
(`weighting="bm25"`: idf · tf·(k1+1) / (tf + k1·(1 - b + b·len/avgdl)), tf and len counted in the row,
the row being the passage). Special tokens and padding have weight 0. Tokens are drawn without replacement
with these weights until the exact budget round(rate × maskable) is met; 80/10/10 per token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from mlmkit.errors import MlmkitError
from mlmkit.masking.units import token_unit_ids
from mlmkit.stats.artifact import load_stats
from mlmkit.vocabulary_table import per_token

WEIGHTINGS = ("idf", "bm25")


def unit_weights_from_tokens(unit_ids: torch.Tensor, token_weights: torch.Tensor) -> torch.Tensor:
    """(B, T) unit weights from per-token weights (B, T) >= 0, taking each unit's largest token weight.

    Units never outnumber positions, so (B, T) is wide enough for `select_units`.
    """
    values = token_weights.float().masked_fill(unit_ids < 0, 0.0)
    return torch.zeros_like(values).scatter_reduce_(1, unit_ids.clamp(min=0), values, "amax")


def mix_with_uniform(weights: torch.Tensor, maskable: torch.Tensor, uniform_share: float) -> torch.Tensor:
    """Per-row probabilities (B, T): (1 - share) · w / Σw + share / n over maskable positions, 0 elsewhere."""
    weights = weights.float() * maskable
    count = maskable.sum(dim=1, keepdim=True).clamp(min=1)
    total = weights.sum(dim=1, keepdim=True)
    proportional = torch.where(total > 0, weights / total.clamp(min=1e-30), 1.0 / count)
    return ((1 - uniform_share) * proportional + uniform_share / count) * maskable


@dataclass(frozen=True, eq=False)
class RomMasker:
    """Token masking weighted by term importance.

    Args:
        stats: file written by `mlmkit stats rom`.
        weighting: "idf" (corpus weight) or "bm25" (per passage, from the batch row).
        mix_ratio: share of uniform masking mixed in (0: purely by weight, 1: random masking).
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
    """

    stats: str | Path | None = None
    weighting: str = "idf"
    mix_ratio: float = 0.3
    k1: float = 0.9
    b: float = 0.4
    idf: torch.Tensor = field(init=False, repr=False, default=None)
    average_length: float = field(init=False, default=1.0)

    needs_words: ClassVar[bool] = False
    truncatable: ClassVar[bool] = False
    corrupt_per_unit: ClassVar[bool] = False

    @classmethod
    def build(cls, tokenizer: Any, **options: Any) -> "RomMasker":
        """Check the options and load the IDF table built for this tokenizer."""
        masker = cls(**options)
        if masker.weighting not in WEIGHTINGS:
            raise MlmkitError(f"weighting={masker.weighting!r} is not known; choose one of {WEIGHTINGS}")
        if not 0.0 <= masker.mix_ratio <= 1.0:
            raise MlmkitError(f"mix_ratio={masker.mix_ratio} must be in [0, 1] (share of uniform masking)")
        loaded = load_stats(masker.stats, tokenizer, "rom")
        object.__setattr__(masker, "idf", loaded.tensors["idf"])
        object.__setattr__(masker, "average_length", float(loaded.tensors["average_document_length"][0]))
        return masker

    def term_weights(self, input_ids: torch.Tensor, maskable: torch.Tensor) -> torch.Tensor:
        """FloatTensor (B, T): IDF, or BM25 with term frequencies counted per row."""
        idf = per_token(self.idf, input_ids.clamp(0, self.idf.numel() - 1))
        if self.weighting == "idf":
            return idf
        keys = torch.where(maskable, input_ids + torch.arange(input_ids.shape[0]).unsqueeze(1) * self.idf.numel(), -1)
        _, inverse, counts = torch.unique(keys, return_inverse=True, return_counts=True)
        term_frequency = counts[inverse].float()  # (B, T)
        length = maskable.sum(dim=1, keepdim=True).float()
        saturation = term_frequency + self.k1 * (1 - self.b + self.b * length / self.average_length)
        return idf * term_frequency * (self.k1 + 1) / saturation

    def units(
        self,
        input_ids: torch.Tensor,
        maskable: torch.Tensor,
        word_ids: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token units (B, T) weighted by the mixed term-importance probabilities (B, T)."""
        unit_ids = token_unit_ids(maskable)
        probabilities = mix_with_uniform(self.term_weights(input_ids, maskable), maskable, self.mix_ratio)
        return unit_ids, unit_weights_from_tokens(unit_ids, probabilities)
