"""Unpadding (Warner et al. 2024, ModernBERT §2.1.3; Portes et al. 2023, MosaicBERT): run the encoder on
the real tokens of a padded batch only.

A padded batch (B, T) becomes one row (1, N) of its N non-padding tokens. Embeddings, feed-forwards and
the MLM head then never touch padding, and attention stays within each sequence because the batch
carries the cumulative sequence lengths (B + 1,) that a variable-length attention kernel takes: the
`cu_seq_lens_q/k`, `max_length_q/k` keyword arguments of transformers' attention interface.

What transformers v5 supports (5.24): `ModernBertModel` takes `position_ids` (its RoPE angles) and
passes extra keyword arguments through every layer to the attention function, so a flattened batch
is computed exactly as the padded one when the attention implementation has a variable-length path.
Only the FlashAttention implementations (`flash_attention_2/3/4`, which need the flash-attn package
or a Hub kernel, i.e. a GPU) have one. SDPA and eager take a padded (B, T) batch: with them a
flattened batch would attend across sequences (ModernBERT's masks ignore `position_ids`), so they
run padded. `sdpa_varlen`, registered here, is the variable-length path on any device: SDPA per
sequence, with ModernBERT's sliding window as a band mask. It makes unpadding exact and testable on
CPU; FlashAttention remains the fast path on GPUs. On a padded batch `sdpa_varlen` is plain SDPA.

BERT-style models also pass attention kwargs through, but derive absolute position ids per family
(RoPE-free, RoBERTa's start after the padding index); unpadding is enabled where it has been checked
against the padded result: UNPADDED_MODEL_TYPES.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

# Base models whose forward takes position_ids and passes attention kwargs to the attention function,
# checked to give the padded result on a flattened batch (tests/train/test_unpadding.py).
UNPADDED_MODEL_TYPES = ("modernbert",)

# Attention implementations with a variable-length path (they read cu_seq_lens_q/k).
VARLEN_ATTENTION = ("flash_attention_2", "flash_attention_3", "flash_attention_4", "sdpa_varlen")


def unpadding_problem(model: torch.nn.Module) -> str | None:
    """Why `model` cannot run a flattened batch (None when it can): its architecture, or its attention."""
    config = model.config
    if config.model_type not in UNPADDED_MODEL_TYPES:
        return f"{config.model_type} is not one of the unpadded architectures {list(UNPADDED_MODEL_TYPES)}"
    if config._attn_implementation not in VARLEN_ATTENTION:
        return (
            f"attention {config._attn_implementation!r} has no variable-length path; set model.attn_implementation "
            f"to one of {list(VARLEN_ATTENTION)}"
        )
    return None


def unpad_inputs(inputs: dict[str, torch.Tensor], model_config: Any) -> tuple[dict[str, Any], torch.Tensor]:
    """The model inputs of a padded batch as one flattened row of its real tokens.

    Args:
        inputs: `input_ids` and `attention_mask` (B, T), plus any other (B, T) model inputs.
        model_config: the model's config (its layer types name the attention masks left empty).

    Returns:
        (inputs, kept): `input_ids` (1, N) and every other (B, T) input flattened alike, `position_ids`
        (1, N) = each token's column (what the padded batch uses, so RoPE angles are the same),
        `cu_seq_lens_q/k` (B + 1,) int32, `max_length_q/k` and no masks; `kept` (B, T) bool marks
        the N tokens, in row-major order.
    """
    attention_mask = inputs["attention_mask"]
    kept = attention_mask.bool()  # (B, T)
    lengths = kept.sum(dim=1, dtype=torch.int32)  # (B,)
    cumulative = F.pad(lengths.cumsum(0, dtype=torch.int32), (1, 0))  # (B + 1,)
    longest = int(lengths.max())
    columns = torch.arange(kept.shape[1], device=kept.device).expand_as(kept)  # (B, T)
    flat = {name: value[kept].unsqueeze(0) for name, value in inputs.items() if name != "attention_mask"}
    flat.update(
        position_ids=columns[kept].unsqueeze(0),
        cu_seq_lens_q=cumulative, cu_seq_lens_k=cumulative, max_length_q=longest, max_length_k=longest,
        # Masks per layer type, all empty: the lengths separate the sequences (ModernBERT builds a
        # (N, N) sliding-window mask otherwise).
        attention_mask={layer_type: None for layer_type in set(getattr(model_config, "layer_types", None) or ["full_attention"])},
    )
    return flat, kept


def sdpa_varlen_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    sliding_window: int | None = None,
    cu_seq_lens_q: torch.Tensor | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers attention function: SDPA per sequence of a flattened batch, plain SDPA on a padded one.

    Args:
        query, key, value: (1, heads, N, head_dim) flattened, or (B, heads, T, head_dim) padded.
        sliding_window: ModernBERT's local layers: a token sees keys at distance < sliding_window
            (the FlashAttention convention: `local_attention // 2 + 1`).
        cu_seq_lens_q: (B + 1,) cumulative lengths of a flattened batch; None for a padded one.

    Returns:
        (attention output (batch, length, heads, head_dim), None: no attention weights).
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if cu_seq_lens_q is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    bounds = cu_seq_lens_q.tolist()
    outputs = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        band = None
        if sliding_window is not None:
            offsets = torch.arange(end - start, device=query.device)
            band = (offsets[:, None] - offsets[None, :]).abs() < sliding_window  # (L, L)
        outputs.append(F.scaled_dot_product_attention(
            query[:, :, start:end], key[:, :, start:end], value[:, :, start:end], attn_mask=band, dropout_p=dropout, scale=scaling,
        ))  # fmt: skip
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register("sdpa_varlen", sdpa_varlen_attention)
    AttentionMaskInterface.register("sdpa_varlen", sdpa_mask)  # padded batches build SDPA's masks


_register()
