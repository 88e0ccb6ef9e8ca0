"""The protocol every masking strategy follows (DESIGN.md: units → selection → corruption).

A strategy only answers "what is masked together, and how likely is each unit": the collator meets the
budget with `selection.select_units` and corrupts with `corruption.apply_replacement`, so a new strategy is
one small file, one line in `MASKERS`, and its tests.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import torch


class Masker(Protocol):
    """A masking strategy: a small frozen dataclass whose fields are its user options.

    Class attributes:
        needs_words: the collator must provide `word_ids` (otherwise None is passed).
        truncatable: the unit (whole words) that crosses the budget is cut after the word that reaches it
            (SpanBERT's last span, kept whole-word: overshoot < one word), rather than taken whole.
        corrupt_per_unit: 80/10/10 is drawn once per unit rather than per token (strategies may make this
            a dataclass field so users can choose).
    """

    needs_words: ClassVar[bool]
    truncatable: ClassVar[bool]
    corrupt_per_unit: bool

    def units(
        self,
        input_ids: torch.Tensor,
        maskable: torch.Tensor,
        word_ids: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Group the maskable positions of a batch into units.

        Args:
            input_ids: LongTensor (B, T), padded.
            maskable: BoolTensor (B, T), False at specials and padding.
            word_ids: LongTensor (B, T), per row 0..W_b-1 in order, -1 where not maskable; None unless
                `needs_words`.
            generator: the only source of randomness.

        Returns:
            unit_ids LongTensor (B, T) (per row 0..U_b-1, contiguous runs, -1 where not maskable) and
            unit_weights FloatTensor (B, U) or None for uniform sampling.
        """
        ...
