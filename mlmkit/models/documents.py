"""Packed blocks without cross-document attention (`data.document_attention: block`).

A packed block (`mlmkit.data.packing`, RoBERTa's FULL-SENTENCES) is ``CLS tail-of-d1 SEP d2 SEP head-of-d3``:
by default every token attends to the whole block, across document boundaries, and its position id is
its column. With document attention each *piece* of the block (from its start, or from just after a
separator, up to and including the next separator) attends only to itself, and position ids restart at
0 in every piece, so every token's hidden state is the one it has when its piece runs alone. ModernBERT
(Warner et al. 2024, §2.1.3) and MosaicBERT (Portes et al. 2023) pack this way, through FlashAttention's
variable-length kernel.

Where documents end needs no extra column: the separator is written after every document and nowhere
else (special-token text in a corpus is tokenized as text, `mlmkit.data.tokenizing`; special ids in an
already tokenized dataset are dropped, `mlmkit.data.pipeline`). The same rule reads blocks packed the
Hugging Face way (``CLS doc SEP CLS doc SEP``: each piece is one ``CLS doc SEP``). Padding, at the end
of a row, is a piece of its own.

Two ways through transformers' attention interface (`mlmkit.train.objectives` picks one per model):
- a variable-length attention (FlashAttention-2/3/4, `torch_varlen`, `sdpa_varlen`:
  `mlmkit.models.unpadding`): the batch runs as one row with one sequence per piece;
- any other (sdpa, eager, flex_attention): a block-diagonal mask built by `transformers.masking_utils`
  with an `and_mask_function` (a 4-D boolean mask for SDPA, an additive one for eager, a `BlockMask` for
  flex attention), and per-piece position ids.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

# transformers' mask builders per layer type (ModernBERT-style configs list their layers' types).
_MASK_BUILDERS = {"full_attention": "create_bidirectional_mask", "sliding_attention": "create_bidirectional_sliding_window_mask"}


def document_starts(is_separator: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Where a piece of a row starts: column 0, just after a separator, and where padding begins.

    Args:
        is_separator: (B, T) bool, the separator tokens.
        real: (B, T) bool, the real (non-padding) tokens; padding follows the real tokens.

    Returns:
        (B, T) bool.
    """
    after_separator = torch.nn.functional.pad(is_separator[:, :-1] & real[:, :-1], (1, 0))
    padding_begins = torch.nn.functional.pad(real[:, :-1] & ~real[:, 1:], (1, 0))
    starts = after_separator | padding_begins
    starts[:, 0] = True
    return starts


def document_layout(starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Piece index and position inside the piece of every token, from `document_starts` (B, T).

    Returns:
        document_ids (B, T): 0, 1, ... per row; position_ids (B, T): 0 at each piece's first token.
    """
    columns = torch.arange(starts.shape[1], device=starts.device).expand_as(starts)  # (B, T)
    first_column = torch.where(starts, columns, 0).cummax(dim=1).values  # (B, T) column where each token's piece starts
    return starts.long().cumsum(dim=1) - 1, columns - first_column


def same_document(query_documents: torch.Tensor, key_documents: torch.Tensor) -> Callable[..., Any]:
    """transformers mask function: a query sees a key only in its own piece.

    Args:
        query_documents: (B, Q) piece index of each query; key_documents: (B, K) of each key.
    """

    def inner(batch_idx: Any, head_idx: Any, q_idx: Any, kv_idx: Any) -> Any:
        return query_documents[batch_idx, q_idx] == key_documents[batch_idx, kv_idx]

    return inner


def block_mask(
    config: Any,
    hidden: torch.Tensor,
    present: torch.Tensor,
    document_ids: torch.Tensor,
    layer_type: str = "full_attention",
    keys: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> Any:
    """The attention mask, in the form `config`'s attention implementation takes, that keeps pieces apart.

    Args:
        config: the model's HF config (its attention implementation decides the mask's form).
        hidden: (B, Q, ·) the queries' hidden states, or any tensor of that batch, length, dtype and device.
        present: (B, Q) bool, the real queries (and keys, in self-attention).
        document_ids: (B, Q) the piece of each query (`document_layout`).
        layer_type: "full_attention", or "sliding_attention" for a sliding-window layer (config.sliding_window).
        keys: for cross-attention, the keys' (hidden (B, K, ·), present (B, K), document_ids (B, K)).

    Returns:
        What the layers take as `attention_mask`: a 4-D mask, a `BlockMask`, or None.
    """
    import transformers.masking_utils as masking

    builder = getattr(masking, _MASK_BUILDERS[layer_type])
    if keys is None:
        return builder(config=config, inputs_embeds=hidden, attention_mask=present, and_mask_function=same_document(document_ids, document_ids))
    key_hidden, key_present, key_documents = keys
    return builder(
        config=config, inputs_embeds=hidden, attention_mask=key_present, encoder_hidden_states=key_hidden,
        and_mask_function=same_document(document_ids, key_documents),
    )  # fmt: skip


def block_attention_inputs(
    config: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, separator_id: int, position_offset: int, dtype: torch.dtype
) -> dict[str, Any]:
    """`attention_mask` and `position_ids` that keep the pieces of padded rows apart (no flattening).

    Args:
        config: the model's HF config. Models that list `layer_types` (ModernBERT) get a dict with one mask
            per layer type, so sliding-window layers keep their window; others one mask.
        input_ids, attention_mask: (B, T).
        separator_id: the id that ends a document.
        position_offset: added to every position id (RoBERTa-like models start after the padding index).
        dtype: the model's dtype (an eager attention's additive mask takes it).

    Returns:
        `attention_mask` and `position_ids` (B, T), model inputs.
    """
    present = attention_mask.bool()
    document_ids, position_ids = document_layout(document_starts(input_ids == separator_id, present))
    shape_like = torch.empty(*input_ids.shape, 0, dtype=dtype, device=input_ids.device)  # what mask builders read
    layer_types = getattr(config, "layer_types", None)
    masks = {kind: block_mask(config, shape_like, present, document_ids, kind) for kind in set(layer_types or ["full_attention"])}
    return {"attention_mask": masks if layer_types else masks["full_attention"], "position_ids": position_ids + position_offset}


def scattered_layout(
    columns: tuple[torch.Tensor, ...], separators: tuple[torch.Tensor, ...], width: int
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    """Pieces of rows whose tokens come as groups of slots at known columns (the late-mask layout).

    Args:
        columns: per group, (B, n) the column of each slot in its row, -1 for a padding slot.
        separators: per group, (B, n) bool, the slots holding a separator.
        width: a row length that every column is below.

    Returns:
        Per group, (document_ids, position_ids) of its slots, (B, n) each (a padding slot gets column 0's);
        and the document_ids of the whole rows, (B, width).
    """
    batch = columns[0].shape[0]
    is_separator = torch.zeros(batch, width + 1, dtype=torch.bool, device=columns[0].device)
    real = torch.zeros_like(is_separator)
    for column, separator in zip(columns, separators):
        slot = torch.where(column < 0, width, column)  # padding slots land in a spare column, cut off below
        is_separator.scatter_(1, slot, separator & (column >= 0))
        real.scatter_(1, slot, column >= 0)
    document_ids, position_ids = document_layout(document_starts(is_separator[:, :width], real[:, :width]))
    groups = [(document_ids.gather(1, column.clamp(min=0)), position_ids.gather(1, column.clamp(min=0))) for column in columns]
    return groups, document_ids
