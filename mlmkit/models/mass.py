"""A BART encoder-decoder that takes MASS's decoder position ids (Song et al., ICML 2019).

MASS feeds the decoder only the masked fragment, but at the fragment's positions in the
sentence, so the decoder knows *where* it is writing. transformers' BART (v5) cannot take such
positions: `BartDecoder.forward` always embeds `arange(length) + cache_length` and ignores any
`position_ids`. `MassForConditionalGeneration` adds one keyword, `decoder_position_ids`
(B, T_dec), and turns it into decoder input embeddings

    token_embedding(ids) + P[decoder_position_ids] − P[arange(T_dec)]

which the unchanged decoder then completes with its own + P[arange(T_dec)], so the decoder
sees exactly token + P[decoder_position_ids]. The two P[arange] terms cancel in the forward
pass and in the gradient, so training updates exactly the rows of P the fragment uses.

The subclass adds no weights: its checkpoint is a plain BART checkpoint (`model_type: bart`,
`architectures: [BartForConditionalGeneration]`) that `AutoModelForSeq2SeqLM` loads without
remote code. Explicit positions only matter in pretraining; fine-tuning and `generate` use
BART's default positions 0, 1, 2, … — the same positions MASS would give a fragment that
covers the whole sequence (see `mlmkit.masking.mass` for the position convention).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from transformers import BartConfig, BartForConditionalGeneration

from mlmkit.errors import MlmkitError


class MassForConditionalGeneration(BartForConditionalGeneration):
    """`BartForConditionalGeneration` whose forward also accepts `decoder_position_ids` (B, T_dec)."""

    def forward(  # type: ignore[override]
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        *args: Any,
        decoder_position_ids: torch.LongTensor | None = None,
        **kwargs: Any,
    ) -> Any:
        """BART's forward; with `decoder_position_ids`, decoder token i sits at position `decoder_position_ids[:, i]`."""
        if decoder_position_ids is not None:
            if decoder_input_ids is None:
                raise ValueError("decoder_position_ids needs decoder_input_ids (the MASS collator returns both)")
            kwargs["decoder_inputs_embeds"] = self.decoder_embeddings_at(decoder_input_ids, decoder_position_ids)
            decoder_input_ids = None
        return super().forward(input_ids, attention_mask, decoder_input_ids, *args, **kwargs)

    def decoder_embeddings_at(self, decoder_input_ids: torch.LongTensor, positions: torch.LongTensor) -> torch.Tensor:
        """Decoder input embeddings (B, T_dec, d_model) that place token i at `positions[:, i]` once BART adds its own."""
        decoder = self.model.decoder
        table = decoder.embed_positions  # BartLearnedPositionalEmbedding: row = position + offset
        limit = self.config.max_position_embeddings
        if positions.numel() and (int(positions.min()) < 0 or int(positions.max()) >= limit):
            raise MlmkitError(
                f"decoder_position_ids range over [{int(positions.min())}, {int(positions.max())}] but the model has "
                f"max_position_embeddings={limit}; use sequences of at most {limit} tokens or a larger model"
            )
        default = torch.arange(positions.shape[1], device=positions.device)  # (T_dec,)
        wanted = torch.nn.functional.embedding(positions + table.offset, table.weight)  # (B, T_dec, d)
        added_by_bart = torch.nn.functional.embedding(default + table.offset, table.weight)  # (T_dec, d)
        return decoder.embed_tokens(decoder_input_ids) + wanted - added_by_bart

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> Any:
        """Save as a plain BART checkpoint, so that tools reading `architectures` find a transformers class."""
        result = super().save_pretrained(save_directory, *args, **kwargs)
        # PreTrainedModel.save_pretrained records this class's name; BART's is what loads it.
        self.config.architectures = ["BartForConditionalGeneration"]
        self.config.save_pretrained(save_directory)
        return result


def mass_bart_config(
    *,
    vocab_size: int,
    pad_token_id: int,
    bos_token_id: int,
    eos_token_id: int,
    hidden_size: int = 768,
    num_hidden_layers: int = 6,
    num_attention_heads: int = 12,
    intermediate_size: int = 3072,
    max_position_embeddings: int = 512,
    dropout: float = 0.1,
    **overrides: Any,
) -> BartConfig:
    """A BART config for MASS from BERT-style size names (`hidden_size`, ... as in our size presets).

    Encoder and decoder get the same depth, width and heads, as in MASS (6+6 layers in the paper's
    NMT model). The decoder starts from `bos_token_id` ([CLS] for BERT vocabularies, <s> for
    RoBERTa's: `mlmkit.masking.mass.decoder_start_token_id`), which is also what the MASS collator
    puts before a fragment that opens the sequence, and `generate` stops at `eos_token_id`.
    `overrides` are BartConfig fields (e.g. `decoder_layers`), applied last.
    """
    fields: dict[str, Any] = {
        "vocab_size": vocab_size,
        "d_model": hidden_size,
        "encoder_layers": num_hidden_layers,
        "decoder_layers": num_hidden_layers,
        "encoder_attention_heads": num_attention_heads,
        "decoder_attention_heads": num_attention_heads,
        "encoder_ffn_dim": intermediate_size,
        "decoder_ffn_dim": intermediate_size,
        "max_position_embeddings": max_position_embeddings,
        "dropout": dropout,
        "pad_token_id": pad_token_id,
        "bos_token_id": bos_token_id,
        "eos_token_id": eos_token_id,
        "decoder_start_token_id": bos_token_id,
        "forced_eos_token_id": eos_token_id,
        "architectures": ["BartForConditionalGeneration"],
    }
    fields.update(overrides)
    return BartConfig(**fields)
