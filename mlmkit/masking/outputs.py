"""Output stages: how a selected batch becomes model inputs.

Selection (units + budget) is shared by every objective; only this last stage differs. In-place MLM
(BERT) corrupts the selected positions; late-mask (3ML) and MASS reuse the same `SelectedBatch` and build
their own tensors. Adding an output stage means one function `(collator, batch) -> dict[str, Tensor]`
and one line in `OUTPUTS`; users pick it with `build_collator(..., output=NAME)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from mlmkit.masking.corruption import apply_replacement
from mlmkit.masking.late_mask_output import to_late_mask
from mlmkit.masking.mass import decoder_inputs, decoder_start_token_id


@dataclass
class SelectedBatch:
    """A padded batch with its selection, before the output stage."""

    input_ids: torch.Tensor  # (B, T) padded, uncorrupted
    attention_mask: torch.Tensor  # (B, T) long, 1 = real token
    maskable: torch.Tensor  # (B, T) bool
    unit_ids: torch.Tensor  # (B, T) long, -1 = not maskable
    selected: torch.Tensor  # (B, T) bool, the positions to predict
    generator: torch.Generator  # this batch's generator, for the output stage's own draws
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # padded model inputs passed through (token_type_ids)
    word_ids: torch.Tensor | None = None  # (B, T) long, the words the strategy grouped (None if it needs none)


def corrupt(collator: Any, batch: SelectedBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's 80/10/10 on the selected positions with the collator's settings: (input_ids, labels), (B, T)."""
    return apply_replacement(
        batch.input_ids,
        batch.selected,
        batch.generator,
        collator.mask_token_id,
        collator.replacement_ids,
        collator.mask_replace_prob,
        collator.random_replace_prob,
        unit_ids=batch.unit_ids if collator.masker.corrupt_per_unit else None,
        exact=collator.exact_replacement,
    )


def mlm_output(collator: Any, batch: SelectedBatch) -> dict[str, torch.Tensor]:
    """In-place MLM (BERT): corrupted `input_ids`, `attention_mask`, `labels` (-100 off the selection)."""
    input_ids, labels = corrupt(collator, batch)
    return {"input_ids": input_ids, "attention_mask": batch.attention_mask, "labels": labels, **batch.extras}


def late_mask_output(collator: Any, batch: SelectedBatch) -> dict[str, torch.Tensor]:
    """3ML: the same corruption, re-laid so the encoder never sees [MASK] (`late_mask_output.py`)."""
    input_ids, labels = corrupt(collator, batch)
    token_type_ids = batch.extras.get("token_type_ids")
    return to_late_mask(input_ids, labels, batch.attention_mask, collator.mask_token_id, collator.pad_token_id, token_type_ids)


def mass_output(collator: Any, batch: SelectedBatch) -> dict[str, torch.Tensor]:
    """MASS: the encoder input corrupted 80/10/10, the decoder given only the selection (`mass.py`).

    Works for any selection (MASS fragments, or spans for a T5-like objective without sentinels).
    `token_type_ids` are dropped: BART-style encoder-decoders take none.

    Returns:
        `input_ids`, `attention_mask` (B, T); `decoder_input_ids`, `decoder_attention_mask`,
        `decoder_position_ids`, `labels` (B, L), L = the most tokens selected in a row.
    """
    input_ids, _ = corrupt(collator, batch)
    start = decoder_start_token_id(collator.tokenizer)
    decoder = decoder_inputs(batch.input_ids, batch.selected, start, collator.pad_token_id, collator.pad_to_multiple_of)
    return {"input_ids": input_ids, "attention_mask": batch.attention_mask, **decoder}


OutputStage = Callable[[Any, SelectedBatch], dict[str, torch.Tensor]]

OUTPUTS: dict[str, OutputStage] = {
    "mlm": mlm_output,
    "late_mask": late_mask_output,
    "mass": mass_output,
}
