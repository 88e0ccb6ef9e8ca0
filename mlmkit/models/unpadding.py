"""Unpadding (Warner et al. 2024, ModernBERT §2.1.3; Portes et al. 2023, MosaicBERT): run the encoder on
the real tokens of a padded batch only, as one row of sequences.

A padded batch (B, T) becomes one row (1, N) of its N non-padding tokens. Embeddings, feed-forwards and
the MLM head then never touch padding, and attention stays within each sequence because the batch
carries the cumulative sequence lengths (S + 1,) that a variable-length attention kernel takes: the
`cu_seq_lens_q/k`, `max_length_q/k` keyword arguments of transformers' attention interface. A sequence
is a row, or, with document attention (`mlmkit.models.documents`), each document piece of a row.

What transformers v5 supports (5.24): `ModernBertModel`, `BertModel` and `RobertaModel` take
`position_ids` and pass extra keyword arguments through every layer to the attention function, so a
flattened batch is computed exactly as the padded one when the attention implementation has a
variable-length path (checked: tests/models/test_unpadding.py). Position ids are each token's place in
its sequence (ModernBERT's RoPE angles, BERT's absolute positions), after the padding index for
RoBERTa. The FlashAttention implementations (`flash_attention_2/3/4`) need the flash-attn package or a
Hub kernel. mlmkit registers two more:
- `torch_varlen`: PyTorch's own FlashAttention kernel (`torch.nn.attention.varlen.varlen_attn`, torch
  >= 2.10), CUDA and bf16/fp16 only, nothing to install; it has no attention dropout.
- `sdpa_varlen`: SDPA per sequence, with ModernBERT's sliding window as a band mask, on any device. It
  makes unpadding exact and testable on CPU; it loops over sequences, so it is not fast.
On a padded batch both are plain SDPA. SDPA and eager take a padded (B, T) batch only: with them a
flattened batch would attend across sequences, so they run padded.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch.nn import functional as F
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from mlmkit.errors import MlmkitError

try:  # imported here, not in the attention function: a compiled step traces no import
    from torch.nn.attention.varlen import varlen_attn
except ImportError:  # torch < 2.10
    varlen_attn = None

# Base models whose forward takes position_ids and passes attention kwargs to the attention function,
# checked to give the padded result on a flattened batch (tests/models/test_unpadding.py).
UNPADDED_MODEL_TYPES = ("modernbert", "bert", "roberta")

# Attention implementations with a variable-length path (they read cu_seq_lens_q/k).
VARLEN_ATTENTION = ("flash_attention_2", "flash_attention_3", "flash_attention_4", "torch_varlen", "sdpa_varlen")


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


def varlen_inputs(
    inputs: dict[str, torch.Tensor],
    model_config: Any,
    starts: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    position_offset: int = 0,
) -> tuple[dict[str, Any], torch.Tensor]:
    """The model inputs of a padded batch as one row of its real tokens, in sequences.

    Reads the sequence bounds back from the device (the kernels take them as a table of their count);
    the longest sequence is given as the row width T, a bound that keeps a compiled step's shapes.

    Args:
        inputs: `input_ids` and `attention_mask` (B, T), plus any other (B, T) model inputs.
        model_config: the model's config (its layer types name the attention masks left empty).
        starts: (B, T) bool, where a sequence starts (`mlmkit.models.documents.document_starts`); default:
            every row is one sequence.
        position_ids: (B, T) each token's place in its sequence; default: its column.
        position_offset: added to the position ids (RoBERTa-like models start after the padding index).

    Returns:
        (inputs, token_index): `input_ids` (1, N) and every other (B, T) input flattened alike,
        `position_ids` (1, N), `cu_seq_lens_q/k` (S + 1,) int32, `max_length_q/k` = T and no masks;
        `token_index` (B, T) is each token's place in the row, -1 on padding.
    """
    attention_mask = inputs["attention_mask"]
    kept = attention_mask.bool()  # (B, T)
    columns = torch.arange(kept.shape[1], device=kept.device).expand_as(kept)  # (B, T)
    starts = columns == 0 if starts is None else starts
    position_ids = columns if position_ids is None else position_ids
    flat = {name: value[kept].unsqueeze(0) for name, value in inputs.items() if name != "attention_mask"}
    first = starts[kept].nonzero()[:, 0].to(torch.int32)  # (S,) each sequence's first token in the row
    cumulative = torch.cat([first, kept.sum(dtype=torch.int32).view(1)])  # (S + 1,)
    torch._dynamo.maybe_mark_dynamic(cumulative, 0)  # S changes from batch to batch: one compiled graph for all
    longest = kept.shape[1]  # no sequence is longer than a row
    layer_types = getattr(model_config, "layer_types", None)
    flat.update(
        position_ids=(position_ids[kept] + position_offset).unsqueeze(0),
        cu_seq_lens_q=cumulative, cu_seq_lens_k=cumulative, max_length_q=longest, max_length_k=longest,
        # No masks: the lengths separate the sequences. ModernBERT takes one per layer type (it builds an
        # (N, N) sliding-window mask otherwise); BERT-like models take None.
        attention_mask={layer_type: None for layer_type in set(layer_types)} if layer_types else None,
    )  # fmt: skip
    token_index = torch.where(kept, kept.flatten().cumsum(0).view_as(kept) - 1, -1)
    return flat, token_index


def varlen_attention(
    kernel: str,
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    sliding_window: int | None = None,
    cu_seq_lens_q: torch.Tensor | None = None,
    cu_seq_lens_k: torch.Tensor | None = None,
    max_length_q: int | None = None,
    max_length_k: int | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers attention function (registered with `kernel` bound): on a flattened batch, attention
    within each sequence by `kernel`; on a padded batch, plain SDPA.

    Args:
        kernel: "sdpa_varlen" (SDPA per sequence, any device) or "torch_varlen" (PyTorch's FlashAttention
            varlen kernel: CUDA, bf16/fp16, no dropout).
        query, key, value: (1, heads, N, head_dim) flattened, or (B, heads, T, head_dim) padded.
        sliding_window: ModernBERT's local layers: a token sees keys at distance < sliding_window
            (the FlashAttention convention: `local_attention // 2 + 1`).
        cu_seq_lens_q/k: (S + 1,) cumulative lengths of a flattened batch; None for a padded one.
        max_length_q/k: the longest sequence.

    Returns:
        (attention output (batch, length, heads, head_dim), None: no attention weights).

    Raises:
        MlmkitError: torch_varlen with attention dropout in training, on a CPU tensor, or with fp32 inputs.
    """
    if cu_seq_lens_q is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    if kernel == "sdpa_varlen":
        return _sdpa_per_sequence(query, key, value, cu_seq_lens_q, dropout, scaling, sliding_window), None
    _check_torch_varlen(query, dropout)
    window = {} if sliding_window is None else {"window_size": (sliding_window - 1, sliding_window - 1)}
    output = varlen_attn(
        query[0].transpose(0, 1), key[0].transpose(0, 1), value[0].transpose(0, 1),  # (N, heads, head_dim)
        cu_seq_lens_q, cu_seq_lens_k, max_length_q, max_length_k, scale=scaling, **window,
    )  # fmt: skip
    return output.unsqueeze(0), None  # (1, N, heads, head_dim)


def _sdpa_per_sequence(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, cu_seq_lens: torch.Tensor, dropout: float, scaling: float | None,
    sliding_window: int | None,
) -> torch.Tensor:
    bounds = cu_seq_lens.tolist()
    outputs = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        band = None
        if sliding_window is not None:
            offsets = torch.arange(end - start, device=query.device)
            band = (offsets[:, None] - offsets[None, :]).abs() < sliding_window  # (L, L)
        outputs.append(F.scaled_dot_product_attention(
            query[:, :, start:end], key[:, :, start:end], value[:, :, start:end], attn_mask=band, dropout_p=dropout, scale=scaling,
        ))  # fmt: skip
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous()


def _check_torch_varlen(query: torch.Tensor, dropout: float) -> None:
    if varlen_attn is None:
        raise MlmkitError(f"model.attn_implementation=torch_varlen needs torch >= 2.10 (torch.nn.attention.varlen), found {torch.__version__}")
    if dropout:
        raise MlmkitError(
            f"model.attn_implementation=torch_varlen has no attention dropout, and the model asks for {dropout}; "
            "set the attention dropout to 0 in model.config (attention_probs_dropout_prob for BERT/RoBERTa, "
            "attention_dropout for ModernBERT) or use flash_attention_2"
        )
    if query.device.type != "cuda" or query.dtype not in (torch.bfloat16, torch.float16):
        raise MlmkitError(
            f"model.attn_implementation=torch_varlen runs on CUDA in bf16/fp16, got {query.dtype} on {query.device.type}; "
            "use train.mixed_precision=bf16 on a GPU, or sdpa_varlen on a CPU"
        )


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    for name in ("sdpa_varlen", "torch_varlen"):
        AttentionInterface.register(name, functools.partial(varlen_attention, name))
        AttentionMaskInterface.register(name, sdpa_mask)  # padded batches build SDPA's masks


_register()
