"""Token masking: BERT's and RoBERTa's random masking, every token its own unit (Devlin et al. 2019 §3.1; Liu et al. 2019 §4.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from mlmkit.masking.units import token_unit_ids


@dataclass(frozen=True)
class TokenMasker:
    """Mask single tokens chosen uniformly; with the collator's exact budget this is BERT's
    `create_pretraining_data.py` count (round(rate × maskable), not HF's per-token Bernoulli), drawn
    afresh for every batch as RoBERTa's dynamic masking does."""

    needs_words: ClassVar[bool] = False
    truncatable: ClassVar[bool] = False
    corrupt_per_unit: ClassVar[bool] = False

    def units(
        self,
        input_ids: torch.Tensor,
        maskable: torch.Tensor,
        word_ids: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, None]:
        """Every maskable position is a unit (B, T); uniform weights."""
        return token_unit_ids(maskable), None
