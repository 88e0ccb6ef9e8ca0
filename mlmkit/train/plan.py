"""`--dry-run`: check a resolved config against the files and classes it names, without training.

Cheap on purpose (cramming's dryrun): no tokenizer training, no data preparation, the model is
built on the meta device to count its parameters. Running it on every recipe catches doc drift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlmkit.config import RunConfig
from mlmkit.errors import MlmkitError


def plan_run(config: RunConfig) -> dict[str, Any]:
    """What a run would do: the model it trains, steps, tokens; raises MlmkitError where the config cannot work."""
    from mlmkit.data.output_folder import check_writable_folder
    from mlmkit.masking import MASKERS
    from mlmkit.train.inputs import corpus_files
    from mlmkit.train.loop import total_steps
    from mlmkit.train.optim import check_lr_scheduler_type
    from mlmkit.train.trackers import log_with

    check_writable_folder(config.output_dir)
    tokenizer = _tokenizer_or_stand_in(config)
    if config.data.path:
        if not Path(config.data.path).is_dir():
            raise MlmkitError(f"data.path={config.data.path!r} is not a folder written by `mlmkit data prepare`")
        if not isinstance(tokenizer, _VocabularyStandIn):
            from mlmkit.data.prepared import load_prepared

            try:
                load_prepared(config.data.path, tokenizer, config.data.seq_len)
            except MlmkitError as error:
                raise MlmkitError(f"data.path: {error}") from None
    elif config.data.dataset:
        from mlmkit.data.sources import is_hub_name, open_dataset

        if not is_hub_name(config.data.dataset):  # a Hub dataset is only fetched when the run starts
            open_dataset(config.data.dataset, config.data.split, config.data.dataset_config)
    else:
        corpus_files(config)
    check_lr_scheduler_type(config.train.lr_scheduler_type)
    log_with(config.train.report_to)
    if config.collator.name not in MASKERS:
        raise MlmkitError(f"collator.name={config.collator.name!r}, must be one of {sorted(MASKERS)}")
    if hasattr(tokenizer, "mask_token_id"):
        from mlmkit.collators import build_collator

        build_collator(config.collator.name, tokenizer, schedule=config.collator.schedule, **config.collator.options)
    model, source = _planned_model(config, tokenizer)
    steps = total_steps(config, num_processes=1)
    tokens_per_step = config.train.batch_size * config.train.gradient_accumulation_steps * config.data.seq_len
    return {
        "model": f"{model.config.model_type} ({type(model).__name__}, {model.config.num_hidden_layers} layers), {source}",
        "parameters": sum(parameter.numel() for parameter in model.parameters()),
        "steps": steps,
        "tokens_per_step_per_process": tokens_per_step,
        "tokens_total_per_process": steps * tokens_per_step,
        "output_dir": config.output_dir,
    }


def _planned_model(config: RunConfig, tokenizer: Any) -> tuple[Any, str]:
    """The model the run will train, built on the meta device (no weights read or drawn), and where it comes from."""
    import torch

    from mlmkit.models.factory import build_model_config, check_compatible, new_model, set_attention

    section = config.model
    with torch.device("meta"):
        if section.path:
            model_config = _checkpoint_config(config)
            check_compatible(model_config, tokenizer, config.data.seq_len)
            model = new_model("mass" if section.family == "mass" else "auto", model_config)
            source = f"continued from model.path {section.path}"
        else:
            model_config = build_model_config(section.family, section.size, tokenizer, config.data.seq_len, section.config)
            model = new_model(section.family, model_config)
            source = f"new: model.family {section.family}, model.size {section.size}"
        set_attention(model, section.attn_implementation)
        if section.late_mask is not None:
            from mlmkit.models.late_mask import LateMaskForMaskedLM

            model = LateMaskForMaskedLM(model, section.late_mask, getattr(tokenizer, "mask_token_id", None))
            source += f", 3ML late-mask (last {section.late_mask.late_layers} layers)"
    return model, source


def _checkpoint_config(config: RunConfig) -> Any:
    """The HF config of model.path (a folder, a late-mask folder, or a Hub id)."""
    from mlmkit.models.late_mask import _late_mask_folder, is_late_mask_folder
    from mlmkit.models.loading import load_model_config

    path = config.model.path
    if config.model.late_mask is not None and is_late_mask_folder(path):
        path = str(_late_mask_folder(Path(path)))
    return load_model_config(path, what="model.path")


class _VocabularyStandIn:
    """The two facts the model factory needs from a tokenizer that will be trained at run time."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self.pad_token_id, self.bos_token_id, self.eos_token_id = 0, 0, 2
        self.cls_token_id, self.sep_token_id = 2, 3

    def __len__(self) -> int:
        return self.vocab_size


def _tokenizer_or_stand_in(config: RunConfig) -> Any:
    path = config.tokenizer.path or config.model.path  # a continued model brings its own tokenizer
    if path:
        from mlmkit.models.loading import load_tokenizer

        return load_tokenizer(path, what="tokenizer.path" if config.tokenizer.path else "model.path")
    for path in config.tokenizer.corpus:
        if not Path(path).is_file():
            raise MlmkitError(f"tokenizer.corpus: {path!r} does not exist")
    return _VocabularyStandIn(config.tokenizer.vocab_size)
