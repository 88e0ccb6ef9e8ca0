"""Starting and resuming a run in its output folder, so that a run never loses, mixes or executes anything.

- A fresh run refuses a folder that already holds another run's checkpoints (it would mix with them).
- `--resume` takes the newest checkpoint that verifies (`checkpoint.verify_checkpoint`); damaged ones
  are moved aside as `damaged-step-N`, and the run says which and why.
- The recipe is compared with the checkpoint's own config.yaml: fields that change what the run
  computes are refused with the list of differences; the fields in `config.CHANGEABLE_ON_RESUME`
  are applied for real (learning rate, optimizer settings, schedule length) and recorded as
  OUTPUT_DIR/config-step-N.yaml. OUTPUT_DIR/config.yaml keeps the config the run started with.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from mlmkit.config import CHANGEABLE_ON_RESUME, RunConfig, config_from_dict, plain, to_yaml
from mlmkit.data.tokenizer import tokenizer_vocab_hash
from mlmkit.errors import MlmkitError
from mlmkit.logs import logger
from mlmkit.train import checkpoint
from mlmkit.yaml_scalars import parse_yaml

HISTORY_PATTERN = "config-step-*.yaml"


def prepare_output_dir(config: RunConfig, accelerator: Any, resume: bool) -> Path:
    """Check OUTPUT_DIR can be written, remove leftovers of killed saves, refuse to start afresh over a run."""
    from mlmkit.data.output_folder import check_writable_folder

    output_dir = check_writable_folder(config.output_dir)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        checkpoint.remove_temporary(output_dir)
    accelerator.wait_for_everyone()
    existing = checkpoint.latest_checkpoint(output_dir)
    if not resume and existing is not None:
        raise MlmkitError(
            f"output_dir {str(output_dir)!r} already holds a run (newest checkpoint {existing.name}); continue it with "
            "--resume (train.resume=auto), or start afresh in another output_dir (or delete that folder)"
        )
    return output_dir


def record_config(config: RunConfig, accelerator: Any, resumed_at: int | None, changed: bool) -> None:
    """config.yaml for a run that starts at step 0; config-step-N.yaml when a resume changed fields."""
    if not accelerator.is_main_process:
        return
    output_dir = Path(config.output_dir)
    if resumed_at is None:
        for old in output_dir.glob(HISTORY_PATTERN):  # a previous run's history, not this run's
            old.unlink()
        (output_dir / "config.yaml").write_text(to_yaml(config), encoding="utf-8")
    elif changed:
        (output_dir / f"config-step-{resumed_at:06d}.yaml").write_text(to_yaml(config), encoding="utf-8")


def restore(
    config: RunConfig, accelerator: Any, tokenizer: Any, objects: dict[str, Any], optimizer: Any, scheduler: Any
) -> tuple[dict[str, Any] | None, bool]:
    """Load the newest checkpoint that verifies and fits this recipe.

    Returns:
        (its trainer state, or None when the run has no checkpoint; whether allowed fields changed).

    Raises:
        MlmkitError: no checkpoint verifies; the recipe changes fields a resume cannot change; another
            tokenizer; tensors that do not fit the model.
    """
    output_dir = Path(config.output_dir)
    found = checkpoint.complete_checkpoints(output_dir)
    if not found:
        _say(accelerator, f"no checkpoint in {checkpoint.checkpoint_dir(output_dir)}: starting from step 0")
        return None, False
    chosen, skipped = None, []
    for folder in reversed(found):
        reason = checkpoint.verify_checkpoint(folder)
        if reason is None:
            chosen = folder
            break
        skipped.append((folder, reason))
    accelerator.wait_for_everyone()  # every process has verified before any folder moves
    for folder, reason in skipped:
        if accelerator.is_main_process:
            checkpoint.set_aside(folder, "damaged")
        _say(accelerator, f"skipped checkpoint {folder.name}: {reason}; moved aside as damaged-{folder.name}")
    accelerator.wait_for_everyone()
    if chosen is None:
        raise MlmkitError(
            f"no checkpoint in {checkpoint.checkpoint_dir(output_dir)} verifies ({'; '.join(f'{f.name}: {r}' for f, r in skipped)}); "
            "start afresh in another output_dir"
        )
    changes = _check_recipe(config, chosen)
    _check_tokenizer(tokenizer, chosen)
    record = checkpoint.load_checkpoint(accelerator, chosen, objects)
    apply_optimizer_settings(optimizer, scheduler, config)
    for key, old, new in changes:
        _say(accelerator, f"resume: {key} changed from {old!r} to {new!r} ({CHANGEABLE_ON_RESUME[key]})")
    _say(accelerator, f"resumed from {chosen} at step {record['step']}")
    return record, bool(changes)


def _say(accelerator: Any, message: str) -> None:
    if accelerator.is_main_process:
        logger.info(message)


def _check_recipe(config: RunConfig, folder: Path) -> list[tuple[str, Any, Any]]:
    """The allowed differences between the recipe and the checkpoint's config; MlmkitError for the others."""
    saved_path = folder / checkpoint.CONFIG_FILE
    saved = config_from_dict(parse_yaml(saved_path.read_text(encoding="utf-8")), source=str(saved_path))
    differences = config_differences(saved, config)
    refused = [d for d in differences if d[0] not in CHANGEABLE_ON_RESUME]
    if saved.train.mixed_precision != "fp16" and config.train.mixed_precision == "fp16":
        refused.append(("train.mixed_precision", saved.train.mixed_precision, "fp16"))
    if refused:
        listed = "; ".join(f"{key}: {old!r} -> {new!r}" for key, old, new in refused)
        raise MlmkitError(
            f"--resume: the recipe differs from {folder.name}'s config.yaml in fields that change what the run "
            f"computes: {listed}. Resume with the values the run was started with, or start a new run in another "
            f"output_dir. A resume may change only: {', '.join(CHANGEABLE_ON_RESUME)}"
        )
    return differences


def _check_tokenizer(tokenizer: Any, folder: Path) -> None:
    saved = checkpoint.read_trainer_state(folder).get("tokenizer_vocab_hash")
    current = tokenizer_vocab_hash(tokenizer)
    if saved != current:
        raise MlmkitError(
            f"--resume: the tokenizer differs from the one {folder.name} was trained with (vocabulary hash "
            f"{current[:12]}… vs {str(saved)[:12]}…, {len(tokenizer)} ids); resume with the run's tokenizer "
            "(tokenizer.path, or OUTPUT_DIR/tokenizer), or start a new run in another output_dir"
        )


def apply_optimizer_settings(optimizer: Any, scheduler: Any, config: RunConfig) -> None:
    """Put the recipe's learning rate and AdamW settings into a restored optimizer and LR scheduler.

    The restored states hold the values the run was started with; a resume that changes train.lr,
    weight_decay, betas or eps means the new ones. Group 0 is the weight-decay group
    (`optim.build_optimizer`). With unchanged settings this recomputes the same numbers.
    """
    train = config.train
    scheduler.base_lrs = [train.lr for _ in optimizer.param_groups]
    for index, (group, factor) in enumerate(zip(optimizer.param_groups, scheduler.lr_lambdas)):
        group.update(initial_lr=train.lr, lr=train.lr * factor(scheduler.last_epoch), betas=tuple(train.betas), eps=train.eps)
        if index == 0:
            group["weight_decay"] = train.weight_decay
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]


def config_differences(old: RunConfig, new: RunConfig) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every leaf field that differs, in schema order."""
    return _differences(plain(dataclasses.asdict(old)), plain(dataclasses.asdict(new)), "")


def _differences(old: Any, new: Any, prefix: str) -> list[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in dict.fromkeys([*old, *new]):
            found += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return found
    return [] if old == new else [(prefix.rstrip("."), old, new)]
