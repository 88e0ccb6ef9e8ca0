"""Run configuration: frozen dataclasses are the schema, YAML recipes are data (STYLE §3.2).

The defaults live here and only here. A recipe mirrors the `RunConfig` tree; overrides are dotted
`section.field=value` pairs typed by the field they set. Unknown keys and wrong types fail at load
time with the path and the nearest valid key, so a typo never silently trains with a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlmkit.errors import MlmkitError
from mlmkit.text_files import read_text_file
from mlmkit.yaml_scalars import parse_yaml
from mlmkit.models.factory import MODELS, family_hint


@dataclass(frozen=True)
class TokenizerConfig:
    """Either a tokenizer folder (`path`), or how to train one (on `corpus`, else on the data's corpus)."""

    path: str | None = None
    kind: str = "wordpiece"
    vocab_size: int = 8000
    lowercase: bool = False
    corpus: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataConfig:
    """Where the blocks come from: a prepared dataset folder, corpus files, a dataset, or the embedded corpus.

    With neither `path`, `corpus` nor `dataset` set, the embedded default corpus is used. `dataset` is
    what `mlmkit data prepare --dataset` takes (data files, a folder of them, a save_to_disk folder, a Hub
    name with `dataset_config` and `split`), its text in `text_column`. The held-out split is the last
    `eval_fraction` of the blocks (contiguous, so it shares no block with training).
    `document_attention`: "none" lets every token of a packed block attend to the whole block (RoBERTa's
    FULL-SENTENCES); "block" keeps each document to itself, with position ids restarting per document
    (ModernBERT's packing; `mlmkit.models.documents`).
    """

    path: str | None = None
    corpus: tuple[str, ...] = ()
    dataset: str | None = None
    dataset_config: str | None = None
    split: str = "train"
    text_column: str = "text"
    tokenize_batch_size: int = 1000
    num_proc: int = 1
    seq_len: int = 128
    eval_fraction: float = 0.05
    max_eval_blocks: int = 512
    cache_dir: str | None = None
    document_attention: str = "none"


LATE_MASK_VARIANTS = ("self", "cross")


@dataclass(frozen=True)
class LateMaskConfig:
    """3ML's late-[MASK] stage (mlmkit.models.late_mask): the encoder never sees [MASK].

    Attributes:
        late_layers: k, the last layers that run with the [MASK]s (1 <= k <= num_hidden_layers;
            3ML: 2 for base). The first N−k layers see only the unmasked tokens.
        variant: "self" (3ML_self: late layers over the full rebuilt sequence) or "cross"
            (3ML_cross: only the [MASK]s are queries, cross-attending to the encoder output).
        keep_late_layers: keep the late layers in the saved fine-tuning encoder (default: drop
            them, as the paper drops its decoder).
    """

    late_layers: int = 2
    variant: str = "self"
    keep_late_layers: bool = False


@dataclass(frozen=True)
class ModelConfig:
    """A `family` × `size` preset (mlmkit.models.factory.SIZES), with HF config fields in `config` on top.

    `family: auto` builds any `AutoModelForMaskedLM` architecture named by `config.model_type`
    (deberta-v2, distilbert, albert, electra, xlm-roberta, ...). `path` continues pretraining from an
    existing checkpoint (a save_pretrained folder or a Hub id) instead of building from the preset; the
    checkpoint then decides the architecture. `attn_implementation` is transformers' (sdpa, eager,
    flash_attention_2, ...; mlmkit adds sdpa_varlen): with a variable-length one, batches with padding
    run unpadded (mlmkit.models.unpadding). `late_mask` (BERT/RoBERTa only) trains the model as a 3ML
    late-mask encoder; the collator must then use `output: late_mask`.
    """

    family: str = "bert"
    size: str = "tiny"
    config: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    attn_implementation: str | None = None
    late_mask: LateMaskConfig | None = None


@dataclass(frozen=True)
class CollatorConfig:
    """A collator name known to `mlmkit.build_collator`, its options (validated there), and the
    training masking-rate schedule (`mlmkit.schedules.build_schedule` spec, e.g.
    `{name: linear, start: 0.30, end: 0.15}`; evaluation keeps `options.mlm_probability`)."""

    name: str = "random"
    options: dict[str, Any] = field(default_factory=dict)
    schedule: dict[str, Any] | None = None


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, precision, evaluation and checkpointing of the one pretraining loop.

    `compile` runs each step's model, head and loss through `torch.compile` (`mlmkit.train.objectives`).
    `peak_tflops` is the device's dense bf16 peak for the MFU column of metrics.jsonl; None looks the
    device up in `mlmkit.train.throughput.PEAK_TFLOPS` (A100, H100, H200), and leaves MFU empty elsewhere.
    """

    max_steps: int = 1000
    max_tokens: int | None = None
    batch_size: int = 32
    gradient_accumulation_steps: int = 1
    lr: float = 5e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_ratio: float = 0.06
    warmup_steps: int | None = None
    lr_scheduler_type: str = "linear"
    lr_scheduler_kwargs: dict[str, Any] = field(default_factory=dict)
    max_grad_norm: float = 1.0
    mixed_precision: str = "no"
    sparse_head: bool = True
    compile: bool = False
    peak_tflops: float | None = None
    eval_every: int = 100
    eval_batch_size: int = 64
    save_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    num_workers: int = 0
    seed: int = 0
    resume: str = "no"
    report_to: tuple[str, ...] = ("none",)


@dataclass(frozen=True)
class RunConfig:
    """The whole run: what `mlmkit pretrain RECIPE.yaml` resolves a recipe and its overrides to."""

    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    collator: CollatorConfig = field(default_factory=CollatorConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    output_dir: str = "runs/pretrain"


CHOICES = {
    "tokenizer.kind": ("wordpiece", "bpe", "unigram"),
    "model.family": tuple(MODELS),
    "train.mixed_precision": ("no", "bf16", "fp16"),
    "train.resume": ("no", "auto"),
    "data.document_attention": ("none", "block"),
}


@dataclass(frozen=True)
class Range:
    """The values a numeric recipe field may take: finite, within [low, high] (an open end where
    `*_inclusive` is False, unbounded where None)."""

    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    example: str = ""

    def __contains__(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = self.low is None or value > self.low or (self.low_inclusive and value == self.low)
        below = self.high is None or value < self.high or (self.high_inclusive and value == self.high)
        return above and below

    def describe(self) -> str:
        if self.high is None:
            text = f"{'>=' if self.low_inclusive else '>'} {self.low:g}"
        else:
            text = f"in {'[' if self.low_inclusive else '('}{self.low:g}, {self.high:g}{']' if self.high_inclusive else ')'}"
        return text + (f" (e.g. {self.example})" if self.example else "")


POSITIVE = Range(1)
# Every numeric field of the schema, with the values it may take (a tuple field: each element).
RANGES: dict[str, Range] = {
    "tokenizer.vocab_size": Range(6, example="8000; 5 ids are special tokens"),
    "data.seq_len": Range(3, example="128"),
    "data.eval_fraction": Range(0, 1, low_inclusive=False, high_inclusive=False, example="0.01 to 0.05"),
    "data.max_eval_blocks": POSITIVE,
    "data.tokenize_batch_size": POSITIVE,
    "data.num_proc": POSITIVE,
    "model.late_mask.late_layers": Range(1, example="2, as 3ML"),
    "train.max_steps": POSITIVE,
    "train.max_tokens": POSITIVE,
    "train.batch_size": POSITIVE,
    "train.gradient_accumulation_steps": POSITIVE,
    "train.lr": Range(0, low_inclusive=False, example="5e-4"),
    "train.weight_decay": Range(0, example="0.01"),
    "train.betas": Range(0, 1, high_inclusive=False, example="[0.9, 0.999]"),
    "train.eps": Range(0, low_inclusive=False, example="1e-8"),
    "train.warmup_ratio": Range(0, 1, example="0.06"),
    "train.warmup_steps": Range(0),
    "train.max_grad_norm": Range(0, example="1.0; 0 turns clipping off"),
    "train.eval_every": POSITIVE,
    "train.eval_batch_size": POSITIVE,
    "train.save_every": POSITIVE,
    "train.keep_checkpoints": POSITIVE,
    "train.log_every": POSITIVE,
    "train.num_workers": Range(0),
    "train.seed": Range(0),
    "train.peak_tflops": Range(0, low_inclusive=False, example="989 for an H100 SXM"),
}

# Fields a `--resume` may change, and how the loop applies the new value. Every other field changes
# what the run computes (data order, batch positions, masks, model shape) and a resume refuses it.
CHANGEABLE_ON_RESUME: dict[str, str] = {
    "output_dir": "the run folder may be moved or copied",
    "data.max_eval_blocks": "held-out evaluation from now on",
    "data.cache_dir": "where corpus blocks are cached (same blocks)",
    "data.tokenize_batch_size": "documents per tokenizer call when blocks are prepared (same blocks)",
    "data.num_proc": "tokenizer processes when blocks are prepared (same blocks)",
    "train.max_steps": "the run's length; the LR and masking schedules stretch to it",
    "train.max_tokens": "the run's length in tokens",
    "train.lr": "peak learning rate of the schedule from now on",
    "train.weight_decay": "the optimizer's weight decay from now on",
    "train.betas": "the optimizer's betas from now on",
    "train.eps": "the optimizer's eps from now on",
    "train.warmup_ratio": "the LR schedule from now on",
    "train.warmup_steps": "the LR schedule from now on",
    "train.lr_scheduler_type": "the LR schedule from now on",
    "train.lr_scheduler_kwargs": "the LR schedule from now on",
    "train.max_grad_norm": "gradient clipping from now on",
    "train.mixed_precision": "precision from now on (not to fp16 from another precision)",
    "train.sparse_head": "the MLM head's computation (same loss)",
    "train.compile": "whether the step runs compiled (same loss)",
    "train.peak_tflops": "the peak that MFU is reported against",
    "train.eval_every": "evaluation interval",
    "train.eval_batch_size": "evaluation batch size",
    "train.save_every": "checkpoint interval",
    "train.keep_checkpoints": "checkpoints kept",
    "train.log_every": "logging interval",
    "train.num_workers": "data loader worker processes (same batches)",
    "train.resume": "whether to resume",
    "train.report_to": "where metrics are also logged from now on",
}


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read a YAML recipe, apply dotted `key=value` overrides, and validate it into a RunConfig.

    Args:
        path: the recipe file.
        overrides: e.g. `["train.lr=3e-4", "output_dir=/tmp/run"]`; values are parsed as YAML,
            then coerced to the type of the field they set.

    Raises:
        MlmkitError: missing file, YAML error, unknown key (with the nearest valid one), wrong type.
    """
    from mlmkit.recipes import recipe_path

    recipe = recipe_path(path)
    try:
        tree = parse_yaml(read_text_file(recipe, "recipe")) or {}
    except yaml.YAMLError as error:
        raise MlmkitError(f"recipe {str(recipe)!r} is not valid YAML: {error}") from error
    if not isinstance(tree, dict):
        raise MlmkitError(f"recipe {str(recipe)!r} must be a mapping of sections (tokenizer, data, model, ...)")
    for override in overrides:
        _check_override_key(override)
        _apply_override(tree, override)
    return config_from_dict(tree, source=str(recipe))


def setting_keys(cls: type | None = None, prefix: str = "") -> list[str]:
    """Every dotted key a recipe or an override can set (`train.lr`, `collator.options`), in schema order."""
    cls = RunConfig if cls is None else cls
    hints = typing.get_type_hints(cls)
    keys = []
    for item in dataclasses.fields(cls):
        hint = hints[item.name]
        keys += setting_keys(hint, f"{prefix}{item.name}.") if dataclasses.is_dataclass(hint) else [prefix + item.name]
    return keys


def _check_override_key(override: str) -> None:
    """Raise MlmkitError naming the command-line override (not the recipe file) when its key is not a setting;
    keys inside a free-form mapping (`collator.options.geometric_p`) are checked where they are used."""
    cls, prefix = RunConfig, ""
    for part in override.partition("=")[0].strip().split("."):
        if not dataclasses.is_dataclass(cls):
            return
        names = [item.name for item in dataclasses.fields(cls)]
        if part not in names:
            raise MlmkitError(_unknown_key_message(f"override {override!r}", prefix + part, [prefix + name for name in names]))
        cls, prefix = typing.get_type_hints(cls)[part], f"{prefix}{part}."


# YAML 1.1 spellings a boolean field still accepts, read by the field's declared type.
_BOOL_WORDS = {"yes": True, "no": False, "on": True, "off": False, "y": True, "n": False}


def config_from_dict(tree: dict[str, Any], source: str = "recipe") -> RunConfig:
    """Validate a nested dict (a parsed recipe) into a RunConfig; `source` names it in errors.

    Raises:
        MlmkitError: unknown key, wrong type, a value outside its `CHOICES` or `RANGES`, or
            collator options that the strategy does not take.
    """
    config = _build(RunConfig, tree, prefix="", source=source)
    for key, allowed in CHOICES.items():
        value = config_value(config, key)
        if value not in allowed:
            hint = family_hint(value) if key == "model.family" else ""
            raise MlmkitError(f"{source}: {key}={value!r}, must be one of {list(allowed)}{hint}")
    _check_ranges(config, source)
    _check_late_mask(config, source)
    if "schedule" in config.collator.options:
        raise MlmkitError(f"{source}: collator.options.schedule: write the schedule one level up, as collator.schedule")
    from mlmkit.collators import check_collator_options

    try:
        check_collator_options(config.collator.name, config.collator.options, key_prefix="collator.options.")
    except MlmkitError as error:
        raise MlmkitError(f"{source}: collator.name={config.collator.name!r}: {error}") from None
    return config


def config_value(config: RunConfig, key: str) -> Any:
    """The value at dotted `key` ("train.lr"); None when a section on the way is None (model.late_mask)."""
    value: Any = config
    for part in key.split("."):
        if value is None:
            return None
        value = getattr(value, part)
    return value


def _check_ranges(config: RunConfig, source: str) -> None:
    for key, allowed in RANGES.items():
        value = config_value(config, key)
        values = value if isinstance(value, tuple) else (value,)
        for index, item in enumerate(values):
            if item is not None and item not in allowed:
                where = f"{key}[{index}]" if isinstance(value, tuple) else key
                raise MlmkitError(f"{source}: {where}={item!r} is out of range; it must be {allowed.describe()}")


def _check_late_mask(config: RunConfig, source: str) -> None:
    """The late-mask model and the late-mask collator output only make sense together."""
    late_mask, output = config.model.late_mask, config.collator.options.get("output", "mlm")
    if late_mask is None:
        if output == "late_mask":
            raise MlmkitError(
                f"{source}: collator.options.output=late_mask needs a late-mask model; add model.late_mask "
                "(e.g. late_mask: {late_layers: 2}) or drop the output option"
            )
        return
    if output != "late_mask":
        raise MlmkitError(
            f"{source}: model.late_mask needs collator.options.output=late_mask (its encoder must not see "
            f"[MASK]), got output={output!r}; set collator.options.output: late_mask"
        )
    if config.model.family not in ("bert", "roberta"):
        raise MlmkitError(f"{source}: model.late_mask works with model.family bert or roberta, got {config.model.family!r}")
    if late_mask.variant not in LATE_MASK_VARIANTS:
        raise MlmkitError(f"{source}: model.late_mask.variant={late_mask.variant!r}, must be one of {list(LATE_MASK_VARIANTS)}")


def to_yaml(config: RunConfig) -> str:
    """The resolved config as YAML, loadable again with `load_recipe` (saved as OUTPUT_DIR/config.yaml)."""
    return yaml.safe_dump(plain(dataclasses.asdict(config)), sort_keys=False)


def plain(value: Any) -> Any:
    """`value` with tuples as lists, recursively: what YAML and JSON write."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def _apply_override(tree: dict[str, Any], override: str) -> None:
    key, sep, raw = override.partition("=")
    if not sep or not key:
        raise MlmkitError(f"override {override!r} must look like section.key=value, e.g. train.lr=3e-4")
    node = tree
    *parents, leaf = key.strip().split(".")
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise MlmkitError(f"override {override!r}: {part!r} is a value, not a section")
        node = child
    try:
        node[leaf] = parse_yaml(raw) if raw.strip() else None
    except yaml.YAMLError:
        node[leaf] = raw


def _build(cls: type, values: Any, prefix: str, source: str) -> Any:
    where = prefix.rstrip(".") or "the top level"
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise MlmkitError(f"{source}: {where} must be a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in names:
            raise MlmkitError(_unknown_key_message(source, prefix + str(key), [prefix + name for name in names]))
    kwargs = {key: _coerce(hints[key], value, prefix + key, source) for key, value in values.items()}
    return cls(**kwargs)


def _unknown_key_message(source: str, key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{source}: unknown key {key!r}; {hint}valid keys here: {', '.join(valid)}"


def _coerce(hint: Any, value: Any, path: str, source: str) -> Any:
    """Check `value` against the annotation `hint`, converting where YAML is ambiguous (3e-4 is a str in YAML 1.1)."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path + ".", source)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _coerce(inner, value, path, source)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value] if args[-1] is Ellipsis else value
        if not isinstance(value, (list, tuple)) or (args[-1] is not Ellipsis and len(value) != len(args)):
            raise _type_error(source, path, value, f"a list of {len(args)} values")
        item_types = [args[0]] * len(value) if args[-1] is Ellipsis else list(args)
        return tuple(_coerce(item, v, f"{path}[{i}]", source) for i, (item, v) in enumerate(zip(item_types, value)))
    if origin is dict:
        if not isinstance(value, dict):
            raise _type_error(source, path, value, "a mapping of name: value")
        return dict(value)
    return _coerce_scalar(hint, value, path, source)


def _coerce_scalar(hint: Any, value: Any, path: str, source: str) -> Any:
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _BOOL_WORDS:
            return _BOOL_WORDS[value.lower()]
        raise _type_error(source, path, value, "true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _type_error(source, path, value, "an integer")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _type_error(source, path, value, "a number") from None
    if hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise _type_error(source, path, value, "a string")
    raise AssertionError(f"unsupported annotation {hint!r} at {path}")


def _type_error(source: str, path: str, value: Any, expected: str) -> MlmkitError:
    return MlmkitError(f"{source}: {path}={value!r} has the wrong type; expected {expected}")
