"""Whole-word masking: all pieces of a chosen word are masked together (BERT's whole-word masking, google-research/bert README, May 2019).

Differences from the references, on purpose:
- Google's WWM skips a word that would overflow the budget (undershoot); we take the word that crosses the
  budget whole, so a row overshoots by less than one word and never masks fewer than round(rate × n).
- 80/10/10 still applies (HF v5 silently forces 100% [MASK] under whole-word masking). By default the
  choice is drawn once per word, so a word is either all [MASK], all random or all kept: Google draws it per
  piece, which leaves kept pieces beside [MASK]ed ones and hints at the word (google-research/bert #910).
  `corrupt_per_unit=False` gives Google's per-piece behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch


@dataclass(frozen=True)
class WholeWordMasker:
    """Mask whole words chosen uniformly.

    Args:
        corrupt_per_unit: draw mask/random/keep once per word (default) or per piece (Google WWM).
    """

    corrupt_per_unit: bool = True

    needs_words: ClassVar[bool] = True
    truncatable: ClassVar[bool] = False

    def units(
        self,
        input_ids: torch.Tensor,
        maskable: torch.Tensor,
        word_ids: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, None]:
        """Units are the words (B, T) the collator numbered; uniform weights."""
        assert word_ids is not None, "the collator passes word_ids to maskers with needs_words"
        return word_ids, None
