"""Build BERT / RoBERTa / ModernBERT masked-LM models from a family, a size preset and explicit HF config fields.

What we build is a plain `BertForMaskedLM` / `RobertaForMaskedLM` / `ModernBertForMaskedLM`, so every
checkpoint loads with `AutoModelForMaskedLM` and `AutoModelForSequenceClassification` for fine-tuning.
"""

from __future__ import annotations

import importlib
from typing import Any

from mlmkit.errors import MlmkitError, did_you_mean

# family -> (transformers config class name, model class name); imported lazily. A "module:Class"
# name is one of ours (MASS: a BART subclass that takes decoder positions, saved as plain BART).
MODELS: dict[str, tuple[str, str]] = {
    "bert": ("BertConfig", "BertForMaskedLM"),
    "roberta": ("RobertaConfig", "RobertaForMaskedLM"),
    "modernbert": ("ModernBertConfig", "ModernBertForMaskedLM"),
    "mass": ("BartConfig", "mlmkit.models.mass:MassForConditionalGeneration"),
}

# Sizes in HF config field names. tiny..medium are Turc et al. 2019 ("Well-Read Students Learn
# Better", the 24 compact BERTs: L/H = 2/128, 4/256, 4/512, 8/512); base and large are Devlin et
# al. 2019 (L=12/H=768/A=12 and L=24/H=1024/A=16). Heads are H/64, the feed-forward is 4H.
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"num_hidden_layers": 2, "hidden_size": 128, "num_attention_heads": 2, "intermediate_size": 512},
    "mini": {"num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 4, "intermediate_size": 1024},
    "small": {"num_hidden_layers": 4, "hidden_size": 512, "num_attention_heads": 8, "intermediate_size": 2048},
    "medium": {"num_hidden_layers": 8, "hidden_size": 512, "num_attention_heads": 8, "intermediate_size": 2048},
    "base": {"num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072},
    "large": {"num_hidden_layers": 24, "hidden_size": 1024, "num_attention_heads": 16, "intermediate_size": 4096},
}

# ModernBERT (Warner et al. 2024, Tab. 4): base L=22/H=768/A=12 with a GeGLU feed-forward of 1152,
# large L=28/H=1024/A=16 with 2624; global attention every third layer, the others a 128-token sliding
# window. The compact sizes keep Turc et al.'s L/H/A with a GeGLU width of 2H (6H² feed-forward weights
# per layer, against BERT's 8H²) and every layer global: their blocks are short, and a sliding window
# saves time only beyond 128 tokens.
MODERNBERT_SIZES: dict[str, dict[str, int]] = {
    **{
        name: {**shape, "intermediate_size": 2 * shape["hidden_size"], "global_attn_every_n_layers": 1}
        for name, shape in SIZES.items()
        if name in ("tiny", "mini", "small", "medium")
    },
    "base": {"num_hidden_layers": 22, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 1152,
             "global_attn_every_n_layers": 3},
    "large": {"num_hidden_layers": 28, "hidden_size": 1024, "num_attention_heads": 16, "intermediate_size": 2624,
              "global_attn_every_n_layers": 3},
}


def size_preset(family: str, size: str) -> dict[str, int]:
    """The HF config fields of `size` for `family` (ModernBERT has its own shapes; see MODERNBERT_SIZES)."""
    table = MODERNBERT_SIZES if family == "modernbert" else SIZES
    if size not in table:
        raise MlmkitError(f"model.size={size!r}, must be one of {list(table)}")
    return table[size]


def _classes(family: str) -> tuple[Any, Any]:
    import transformers

    if family not in MODELS:
        raise MlmkitError(f"model.family={family!r}, must be one of {list(MODELS)}")
    config_name, model_name = MODELS[family]
    if ":" in model_name:
        module_name, _, class_name = model_name.partition(":")
        return getattr(transformers, config_name), getattr(importlib.import_module(module_name), class_name)
    return getattr(transformers, config_name), getattr(transformers, model_name)


def model_class(family: str) -> Any:
    """The model class a new model of `family` is built with."""
    return _classes(family)[1]


def build_model_config(family: str, size: str, tokenizer: Any, seq_len: int, overrides: dict[str, Any]) -> Any:
    """The HF config of a new model: preset, then vocab/special ids from the tokenizer, then `overrides`.

    Args:
        family: a key of MODELS ("bert", "roberta", "mass").
        size: a key of SIZES.
        tokenizer: the run's tokenizer; the vocabulary size and pad/bos/eos ids come from it.
        seq_len: block length; max_position_embeddings must hold it (RoBERTa adds padding_idx + 1,
            because its position ids start after the padding index).
        overrides: HF config field names and values (`model.config` in a recipe), applied last.

    Raises:
        MlmkitError: unknown family/size/field, a vocab smaller than the tokenizer's, too few positions.
    """
    config_class, _ = _classes(family)
    preset = size_preset(family, size)
    _check_fields(config_class, overrides)
    if family == "mass":
        config = _mass_config(size, tokenizer, seq_len, overrides)
        check_compatible(config, tokenizer, seq_len, family)
        return config
    offset = position_offset(family, tokenizer.pad_token_id)
    fields: dict[str, Any] = {
        **preset,
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "max_position_embeddings": max(512, seq_len) + offset,
    }
    if family == "roberta":
        fields.update(type_vocab_size=1, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    if family == "modernbert":  # its [CLS]/[SEP] roles: the first and last token of every block
        cls_id, sep_id = _cls_sep_ids(tokenizer)
        fields.update(cls_token_id=cls_id, sep_token_id=sep_id, bos_token_id=cls_id, eos_token_id=sep_id)
    fields.update(overrides)
    config = config_class(**fields)
    check_compatible(config, tokenizer, seq_len, family)
    return config


def _cls_sep_ids(tokenizer: Any) -> tuple[int | None, int | None]:
    """The ids a tokenizer puts first and last in a sequence: [CLS]/[SEP] (WordPiece) or <s>/</s> (BPE)."""
    first = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    last = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    return first, last


def _mass_config(size: str, tokenizer: Any, seq_len: int, overrides: dict[str, Any]) -> Any:
    """BART config for MASS: the size preset for encoder and decoder alike, [CLS]/<s> starts the decoder."""
    from mlmkit.masking.mass import decoder_end_token_id, decoder_start_token_id
    from mlmkit.models.mass import mass_bart_config

    fields: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": decoder_start_token_id(tokenizer),
        "eos_token_id": decoder_end_token_id(tokenizer),
        "max_position_embeddings": max(512, seq_len),
        **SIZES[size],
        **overrides,  # BartConfig names (d_model, decoder_layers, ...) win over the preset's
    }
    return mass_bart_config(**fields)


def position_offset(family: str, pad_token_id: int | None) -> int:
    """Positions a family uses before a sequence's first token: RoBERTa's position ids start at pad_token_id + 1."""
    return (pad_token_id or 0) + 1 if family == "roberta" else 0


def check_compatible(config: Any, tokenizer: Any, seq_len: int, family: str) -> None:
    """Fail early, with the fix, where the tokenizer or block length cannot fit the model."""
    if config.vocab_size < len(tokenizer):
        raise MlmkitError(
            f"the tokenizer has {len(tokenizer)} ids but the model's vocab_size is {config.vocab_size}; "
            "use the tokenizer the model was trained with, or drop model.config.vocab_size so it follows the tokenizer"
        )
    needed = seq_len + position_offset(family, config.pad_token_id)
    if config.max_position_embeddings < needed:
        raise MlmkitError(
            f"data.seq_len={seq_len} needs max_position_embeddings >= {needed} but the model has "
            f"{config.max_position_embeddings}; lower data.seq_len or raise model.config.max_position_embeddings"
        )


def _check_fields(config_class: Any, overrides: dict[str, Any]) -> None:
    known = set(config_class().to_dict())
    for name in overrides:
        if name not in known:
            hint = did_you_mean(name, sorted(known), cutoff=0.5)
            raise MlmkitError(f"model.config.{name} is not a field of {config_class.__name__}{hint}")


def build_model(family: str, config: Any, seed: int) -> Any:
    """A freshly initialised masked-LM model; `seed` fixes the initial weights without touching global RNG state."""
    import torch

    _, model_class = _classes(family)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model_class(config)


def masked_lm_from_preset(
    family: str, size: str, tokenizer: Any, seq_len: int = 128, seed: int = 0, **config: Any
) -> Any:
    """A new masked-LM model of `family` × `size` for `tokenizer` (vocabulary and special ids from it).

    Args:
        family: "bert", "roberta" or "modernbert".
        size: a preset (SIZES; MODERNBERT_SIZES for ModernBERT), e.g. "tiny".
        tokenizer: the tokenizer the model will read.
        seq_len: the longest block it must take (position embeddings).
        seed: fixes the initial weights (the global RNG is left as it was).
        config: HF config fields set on top of the preset, e.g. `hidden_dropout_prob=0.0`.

    Raises:
        MlmkitError: unknown family, size or config field; a tokenizer or block length the model cannot fit.
    """
    return build_model(family, build_model_config(family, size, tokenizer, seq_len, config), seed)
