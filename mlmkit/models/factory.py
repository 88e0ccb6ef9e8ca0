"""Build masked-LM models from a family, a size preset and explicit HF config fields.

What we build is a plain `transformers` masked-LM model (`BertForMaskedLM`, `RobertaForMaskedLM`,
`ModernBertForMaskedLM`, or for `family: auto` whatever `AutoModelForMaskedLM` builds for
`model.config.model_type`: DeBERTa-v2, DistilBERT, ALBERT, an ELECTRA generator, XLM-R, ...), so every
checkpoint loads with `AutoModelForMaskedLM` and `AutoModelForSequenceClassification` for fine-tuning.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from mlmkit.errors import MlmkitError, did_you_mean

# family -> (transformers config class name, model class name); imported lazily. A "module:Class"
# name is one of ours (MASS: a BART subclass that takes decoder positions, saved as plain BART).
# "auto": the config class of model.config.model_type, the model from AutoModelForMaskedLM.
MODELS: dict[str, tuple[str, str]] = {
    "bert": ("BertConfig", "BertForMaskedLM"),
    "roberta": ("RobertaConfig", "RobertaForMaskedLM"),
    "modernbert": ("ModernBertConfig", "ModernBertForMaskedLM"),
    "auto": ("AutoConfig", "AutoModelForMaskedLM"),
    "mass": ("BartConfig", "mlmkit.models.mass:MassForConditionalGeneration"),
}

# Fields a family sets beyond the preset and the tokenizer's ids (RoBERTa §4.1: no segment embeddings).
FAMILY_FIELDS: dict[str, dict[str, Any]] = {"roberta": {"type_vocab_size": 1}}

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
# saves time only beyond 128 tokens. They classify from the mean of the final states, not [CLS]: MLM never
# trains the [CLS] output, and a tiny model fine-tuned from it on the SST-2 sample scored 5 points below
# the same model untrained (66.4 vs 71.4, 3 seeds), against no difference with mean pooling. tiny has 4
# heads of 32, not 2 of 64: at 15% masking, 2 heads never left the unigram plateau in 600 steps at one
# seed of five, 4 heads left it at all five; at the tiny recipe's 30%, both leave it at every seed tried
# and 4 heads ended higher (benchmarks/results/tiny_recipe_seeds.md).
MODERNBERT_SIZES: dict[str, dict[str, int | str]] = {
    **{
        name: {**shape, "intermediate_size": 2 * shape["hidden_size"], "global_attn_every_n_layers": 1, "classifier_pooling": "mean"}
        | ({"num_attention_heads": 4} if name == "tiny" else {})
        for name, shape in SIZES.items()
        if name in ("tiny", "mini", "small", "medium")
    },
    "base": {"num_hidden_layers": 22, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 1152,
             "global_attn_every_n_layers": 3},
    "large": {"num_hidden_layers": 28, "hidden_size": 1024, "num_attention_heads": 16, "intermediate_size": 2624,
              "global_attn_every_n_layers": 3},
}

# A preset field some configs call otherwise (DistilBERT's feed-forward width is `hidden_dim`). Names
# a config maps itself (its `attribute_map`, e.g. DistilBERT's hidden_size -> dim) need no entry.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {"intermediate_size": ("hidden_dim",)}


def size_preset(family: str, size: str) -> dict[str, int | str]:
    """The HF config fields of `size` for `family` (ModernBERT has its own shapes; see MODERNBERT_SIZES)."""
    table = MODERNBERT_SIZES if family == "modernbert" else SIZES
    if size not in table:
        raise MlmkitError(f"model.size={size!r}, must be one of {list(table)}")
    return table[size]


def masked_lm_types() -> list[str]:
    """The `model_type`s `AutoModelForMaskedLM` can build (model.config.model_type with family auto)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return sorted(MODEL_FOR_MASKED_LM_MAPPING_NAMES)


def family_hint(family: str) -> str:
    """For a masked-LM architecture given as model.family (deberta-v2): how to ask for it, else ""."""
    if family not in masked_lm_types():
        return ""
    return f"; for {family}, set model.family=auto and model.config.model_type={family}"


def _classes(family: str, model_type: str | None = None) -> tuple[Any, Any]:
    import transformers

    if family not in MODELS:
        raise MlmkitError(f"model.family={family!r}, must be one of {list(MODELS)}")
    if family == "auto":
        return _auto_config_class(model_type), transformers.AutoModelForMaskedLM
    config_name, model_name = MODELS[family]
    if ":" in model_name:
        module_name, _, class_name = model_name.partition(":")
        return getattr(transformers, config_name), getattr(importlib.import_module(module_name), class_name)
    return getattr(transformers, config_name), getattr(transformers, model_name)


def _auto_config_class(model_type: str | None) -> Any:
    from transformers import CONFIG_MAPPING

    types = masked_lm_types()
    if model_type is None:
        raise MlmkitError(
            "model.family=auto needs model.config.model_type, the architecture to build (e.g. deberta-v2, distilbert, "
            f"albert, electra, xlm-roberta); any of {types}"
        )
    if model_type not in types:
        hint = did_you_mean(model_type, types) or f"; choose one of {types}"
        raise MlmkitError(f"model.config.model_type={model_type!r} has no masked-LM model in transformers{hint}")
    return CONFIG_MAPPING[model_type]


def model_class(family: str, model_type: str | None = None) -> Any:
    """The class a new model of `family` is built with (`AutoModelForMaskedLM` for family auto)."""
    return _classes(family, model_type)[1]


def build_model_config(family: str, size: str, tokenizer: Any, seq_len: int, overrides: dict[str, Any]) -> Any:
    """The HF config of a new model: preset, then vocab/special ids from the tokenizer, then `overrides`.

    Args:
        family: a key of MODELS; "auto" takes the architecture from `overrides["model_type"]`.
        size: a key of SIZES (MODERNBERT_SIZES for ModernBERT); with family auto, fields the config
            does not have are skipped (DistilBERT's feed-forward is `hidden_dim`: see FIELD_ALIASES).
        tokenizer: the run's tokenizer; the vocabulary size and pad/first/last token ids come from it.
        seq_len: block length; max_position_embeddings must hold it (plus pad_token_id + 1 where
            position ids start after the padding index, as in RoBERTa and XLM-R).
        overrides: HF config field names and values (`model.config` in a recipe), applied last.

    Raises:
        MlmkitError: unknown family/size/field/model_type, a vocab smaller than the tokenizer's, too few positions.
    """
    overrides = dict(overrides)
    model_type = overrides.pop("model_type", None) if family == "auto" else None
    config_class, _ = _classes(family, model_type)
    preset = size_preset(family, size)
    _check_fields(config_class, overrides)
    if family == "mass":
        config = _mass_config(size, tokenizer, seq_len, overrides)
        check_compatible(config, tokenizer, seq_len)
        return config
    pad_id = tokenizer.pad_token_id
    first, last = _first_last_ids(tokenizer)
    special = {"pad_token_id": pad_id, "bos_token_id": first, "eos_token_id": last, "cls_token_id": first, "sep_token_id": last}
    fields: dict[str, Any] = {
        # A named family's preset is written for its config; with auto, the config keeps what it knows.
        **(_known_fields(config_class, preset) if family == "auto" else preset),
        **_known_fields(config_class, special),
        "vocab_size": len(tokenizer),
        "max_position_embeddings": max(512, seq_len) + position_offset(config_class, pad_id),
        **FAMILY_FIELDS.get(family, {}),
        **overrides,
    }
    try:
        config = config_class(**fields)
    except (ValueError, TypeError, AssertionError) as error:  # transformers' own config validation
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise MlmkitError(f"cannot build a {config_class.__name__} from model.size={size!r} and model.config: {reason}") from error
    check_compatible(config, tokenizer, seq_len)
    return config


def _first_last_ids(tokenizer: Any) -> tuple[int | None, int | None]:
    """The ids a tokenizer puts first and last in a sequence: [CLS]/[SEP] (WordPiece) or <s>/</s> (BPE)."""
    first = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    last = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    return first, last


def _field_names(config_class: Any) -> set[str]:
    return set(config_class().to_dict()) | set(config_class.attribute_map)


def _known_fields(config_class: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` under the names `config_class` knows (its own or an alias); the others are left out."""
    names = _field_names(config_class)
    known = {}
    for name, value in fields.items():
        match = next((alias for alias in (name, *FIELD_ALIASES.get(name, ())) if alias in names), None)
        if match is not None:
            known[match] = value
    return known


def position_offset(config_class: Any, pad_token_id: int | None) -> int:
    """Positions a model keeps before its first token: pad_token_id + 1 where position ids start after the
    padding index (RoBERTa, XLM-R and their kin, whose embeddings derive position ids from it), else 0."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    names = MODEL_FOR_MASKED_LM_MAPPING_NAMES.get(getattr(config_class, "model_type", ""))
    if names is None or pad_token_id is None:
        return 0
    modeling = _modeling_module(config_class)
    derived = any(hasattr(value, "create_position_ids_from_input_ids") for value in vars(modeling).values() if isinstance(value, type))
    return pad_token_id + 1 if derived else 0


def _modeling_module(config_class: Any) -> Any:
    """The transformers module defining the models of `config_class` (models/<type>/modeling_<type>.py)."""
    package = config_class.__module__.rpartition(".")[0]
    name = f"{package}.{config_class.__module__.rpartition('.')[2].replace('configuration_', 'modeling_')}"
    return sys.modules.get(name) or importlib.import_module(name)


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


def check_compatible(config: Any, tokenizer: Any, seq_len: int) -> None:
    """Fail early, with the fix, where the tokenizer or block length cannot fit the model."""
    if config.vocab_size < len(tokenizer):
        raise MlmkitError(
            f"the tokenizer has {len(tokenizer)} ids but the model's vocab_size is {config.vocab_size}; "
            "use the tokenizer the model was trained with, or drop model.config.vocab_size so it follows the tokenizer"
        )
    positions = getattr(config, "max_position_embeddings", None)
    needed = seq_len + position_offset(type(config), getattr(config, "pad_token_id", None))
    if positions is not None and positions < needed:
        raise MlmkitError(
            f"data.seq_len={seq_len} needs max_position_embeddings >= {needed} but the model has "
            f"{positions}; lower data.seq_len or raise model.config.max_position_embeddings"
        )


def _check_fields(config_class: Any, overrides: dict[str, Any]) -> None:
    known = _field_names(config_class)
    for name in overrides:
        if name not in known:
            alias = next((alias for alias in FIELD_ALIASES.get(name, ()) if alias in known), None)
            hint = f"; did you mean {alias!r}?" if alias else did_you_mean(name, sorted(known), cutoff=0.5)
            raise MlmkitError(f"model.config.{name} is not a field of {config_class.__name__}{hint}")


def new_model(family: str, config: Any) -> Any:
    """A model of `family` from `config`, initialised from the global RNG (build on the meta device to count it)."""
    new_class = model_class(family, config.model_type if family == "auto" else None)
    try:
        return new_class.from_config(config) if family == "auto" else new_class(config)
    except (ValueError, AssertionError) as error:  # shapes the architecture cannot take
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise MlmkitError(f"cannot build a {config.model_type} model from model.size and model.config: {reason}") from error


def build_model(family: str, config: Any, seed: int) -> Any:
    """A freshly initialised masked-LM model; `seed` fixes the initial weights without touching global RNG state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return new_model(family, config)


def set_attention(model: Any, attn_implementation: str | None) -> Any:
    """`model` with transformers' attention implementation `attn_implementation` (None: keep its default).

    Raises:
        MlmkitError: an unknown implementation, or one this machine cannot run (flash-attn not installed).
    """
    import mlmkit.models.unpadding  # noqa: F401  (registers sdpa_varlen)

    if attn_implementation is None:
        return model
    try:
        model.set_attn_implementation(attn_implementation)
    except (ValueError, ImportError, KeyError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise MlmkitError(f"model.attn_implementation={attn_implementation!r}: {reason}") from error
    return model


def masked_lm_from_preset(
    family: str, size: str, tokenizer: Any, seq_len: int = 128, seed: int = 0, **config: Any
) -> Any:
    """A new masked-LM model of `family` × `size` for `tokenizer` (vocabulary and special ids from it).

    Args:
        family: "bert", "roberta", "modernbert", or "auto" with `model_type=` in `config` (e.g. "deberta-v2").
        size: a preset (SIZES; MODERNBERT_SIZES for ModernBERT), e.g. "tiny".
        tokenizer: the tokenizer the model will read.
        seq_len: the longest block it must take (position embeddings).
        seed: fixes the initial weights (the global RNG is left as it was).
        config: HF config fields set on top of the preset, e.g. `hidden_dropout_prob=0.0`.

    Raises:
        MlmkitError: unknown family, size or config field; a tokenizer or block length the model cannot fit.
    """
    return build_model(family, build_model_config(family, size, tokenizer, seq_len, config), seed)
