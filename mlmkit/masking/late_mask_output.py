"""Late-mask (3ML) output stage: the encoder input keeps only the tokens that are not [MASK].

3ML (Liao et al. 2022) removes the [MASK] placeholders from the encoder input and
adds a learned [MASK] vector back at a late layer (`mlmkit.models.late_mask`). Selection and BERT's
80/10/10 are the standard ones; this stage only re-lays out their result:

- selected tokens that became [MASK] -> late [MASK] slots (`masked_positions`, `labels`), removed
  from the encoder input;
- selected tokens that were replaced by a random token or kept (the 10% + 10%) stay in the encoder
  input with their corrupted id, as in the paper, and stay prediction targets (`visible_labels`);
- everything else is ordinary encoder input, at its original position (`positions`).

Shapes: with the same number of [MASK]s in every row (a fixed budget over equal-length packed rows,
and either mask_replace_prob=1.0 or the collator's `exact_replacement=True`, which splits every
row's selection into exact 80/10/10 counts) every row has exactly T−m encoder tokens and m slots,
with no padding. Otherwise (rows of different lengths or maskable counts, or a per-token 80/10/10
draw) rows are right-padded to the longest: `attention_mask` 0, `positions`/`masked_positions` -1,
labels -100.
"""

from __future__ import annotations

import torch

from mlmkit.masking.corruption import IGNORE_INDEX

_KEPT, _LATE_MASK, _PADDING = 0, 1, 2


def to_late_mask(
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    attention_mask: torch.Tensor,
    mask_token_id: int,
    pad_token_id: int,
    token_type_ids: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Turn an in-place MLM batch into a late-mask batch (a lossless re-layout, no randomness).

    Args:
        input_ids: LongTensor (B, T), corrupted (80/10/10 applied).
        labels: LongTensor (B, T), original ids at the selected positions, -100 elsewhere.
        attention_mask: (B, T), 1 on real tokens.
        mask_token_id: the id that marks late [MASK] slots (selected AND replaced by it; random
            replacements never draw it, `replacement_vocabulary` excludes specials).
        pad_token_id: fill of padded encoder slots.
        token_type_ids: optional (B, T); split like the ids into encoder and [MASK] slots.

    Returns:
        input_ids, attention_mask, positions, visible_labels  # (B, E) encoder slots
        masked_positions, labels                                # (B, M) late [MASK] slots
        token_type_ids (B, E), masked_token_type_ids (B, M)     # only if token_type_ids is given
        Positions are 0-based indices into the padded row; the model maps them to position ids.
    """
    late = (labels != IGNORE_INDEX) & (input_ids == mask_token_id)  # (B, T)
    kind = torch.where(late, _LATE_MASK, torch.where(attention_mask.bool(), _KEPT, _PADDING))
    order = kind.argsort(dim=1, stable=True)  # (B, T): kept slots, then [MASK] slots, each in row order
    kept_count = (kind == _KEPT).sum(dim=1, keepdim=True)  # (B, 1)
    mask_count = late.sum(dim=1, keepdim=True)  # (B, 1)
    encoder_slots = torch.arange(int(kept_count.max()), device=input_ids.device)  # (E,)
    mask_slots = torch.arange(int(mask_count.max()), device=input_ids.device)  # (M,)
    is_encoder_slot = encoder_slots < kept_count  # (B, E)
    is_mask_slot = mask_slots < mask_count  # (B, M)
    positions = torch.where(is_encoder_slot, order[:, : encoder_slots.numel()], -1)
    mask_order_index = (kept_count + mask_slots).clamp(max=input_ids.shape[1] - 1)
    masked_positions = torch.where(is_mask_slot, order.gather(1, mask_order_index), -1)
    batch = {
        "input_ids": _take(input_ids, positions, pad_token_id),
        "attention_mask": is_encoder_slot.long(),
        "positions": positions,
        "visible_labels": _take(labels, positions, IGNORE_INDEX),
        "masked_positions": masked_positions,
        "labels": _take(labels, masked_positions, IGNORE_INDEX),
    }
    if token_type_ids is not None:
        batch["token_type_ids"] = _take(token_type_ids, positions, 0)
        batch["masked_token_type_ids"] = _take(token_type_ids, masked_positions, 0)
    return batch


def _take(values: torch.Tensor, index: torch.Tensor, fill: int) -> torch.Tensor:
    """values (B, T) at index (B, n); `fill` where index is -1."""
    return torch.where(index >= 0, values.gather(1, index.clamp(min=0)), fill)
