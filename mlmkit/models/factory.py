"""Build BERT / RoBERTa masked-LM models from a family, a size preset and explicit HF config fields.

What we build is a plain `BertForMaskedLM` / `RobertaForMaskedLM`, so every checkpoint loads with
`AutoModelForMaskedLM` and `AutoModelForSequenceClassification` for fine-tuning.
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
    if size not in SIZES:
        raise MlmkitError(f"model.size={size!r}, must be one of {list(SIZES)}")
    _check_fields(config_class, overrides)
    if family == "mass":
        config = _mass_config(size, tokenizer, seq_len, overrides)
        check_compatible(config, tokenizer, seq_len, family)
        return config
    offset = 2 if family == "roberta" else 0
    fields: dict[str, Any] = {
        **SIZES[size],
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "max_position_embeddings": max(512, seq_len) + offset,
    }
    if family == "roberta":
        fields.update(type_vocab_size=1, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    fields.update(overrides)
    config = config_class(**fields)
    check_compatible(config, tokenizer, seq_len, family)
    return config


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


def check_compatible(config: Any, tokenizer: Any, seq_len: int, family: str) -> None:
    """Fail early, with the fix, where the tokenizer or block length cannot fit the model."""
    if config.vocab_size < len(tokenizer):
        raise MlmkitError(
            f"the tokenizer has {len(tokenizer)} ids but the model's vocab_size is {config.vocab_size}; "
            "use the tokenizer the model was trained with, or drop model.config.vocab_size so it follows the tokenizer"
        )
    needed = seq_len + (2 if family == "roberta" else 0)
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
