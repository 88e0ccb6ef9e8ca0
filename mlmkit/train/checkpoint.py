"""Atomic checkpoints with exact resume.

Layout: OUTPUT_DIR/checkpoints/step-000200/ holds
  model/              save_pretrained model + tokenizer (AutoModelForMaskedLM / ...ForSequenceClassification)
  state/              accelerator.save_state: weights, optimizer, LR scheduler, RNG states of every process
  trainer_state.json  step, epoch, batch position in the epoch, tokens seen (written last)

A checkpoint is written into a hidden temporary folder, fsynced, then renamed into place, so a crash
or a full disk mid-write leaves the previous checkpoint intact and never a half-written "newest" one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from mlmkit.errors import MlmkitError

STATE_FILE = "trainer_state.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_dir(output_dir: str | Path) -> Path:
    """Where the run's checkpoints live."""
    return Path(output_dir) / "checkpoints"


def complete_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints (those with a trainer state) in step order, oldest first."""
    folder = checkpoint_dir(output_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _STEP_DIR.match(p.name) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    found = complete_checkpoints(output_dir)
    return found[-1] if found else None


def save_checkpoint(
    accelerator: Any, module: torch.nn.Module, tokenizer: Any, output_dir: str | Path, state: dict[str, Any], keep: int
) -> Path:
    """Write step-N atomically on all processes, then keep only the newest `keep` checkpoints.

    Every process must call this (accelerator.save_state stores each process's RNG state); only the
    main process writes the HF folder and the trainer state and renames.

    Raises:
        MlmkitError: writing failed (e.g. out of disk space); the previous checkpoint is untouched.
    """
    final = checkpoint_dir(output_dir) / f"step-{state['step']:06d}"
    temporary = final.with_name(f".tmp-{final.name}")
    failure = None
    if accelerator.is_main_process:
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
    accelerator.wait_for_everyone()
    try:
        accelerator.save_state(str(temporary / "state"))
        if accelerator.is_main_process:
            write_model(accelerator.unwrap_model(module).model, tokenizer, temporary / "model")
            (temporary / STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")
            _fsync_tree(temporary)
    except OSError as error:
        failure = error
    failed = accelerator.reduce(torch.tensor([float(failure is not None)], device=accelerator.device), "sum")
    if failed.item() > 0:
        if accelerator.is_main_process:
            shutil.rmtree(temporary, ignore_errors=True)
        previous = latest_checkpoint(output_dir)
        raise MlmkitError(
            f"could not write checkpoint {final} ({failure or 'failed on another process'}); "
            f"the previous checkpoint is intact: {previous or 'none written yet'}. Free disk space, then rerun with --resume"
        )
    if accelerator.is_main_process:
        _replace(temporary, final)
        for old in complete_checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def write_model(model: torch.nn.Module, tokenizer: Any, folder: Path) -> None:
    """The HF folder: weights as safetensors, config and tokenizer; loads with AutoModel*.from_pretrained."""
    from mlmkit.data.tokenizer import save_tokenizer

    model.save_pretrained(str(folder))
    save_tokenizer(tokenizer, folder)


def save_final(model: torch.nn.Module, tokenizer: Any, folder: str | Path) -> Path:
    """Write the final HF folder atomically (main process only)."""
    final = Path(folder)
    temporary = final.with_name(f".tmp-{final.name}")
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        write_model(model, tokenizer, temporary)
        _fsync_tree(temporary)
    except OSError as error:
        shutil.rmtree(temporary, ignore_errors=True)
        raise MlmkitError(f"could not write the final model to {final} ({error}); free disk space and rerun") from error
    _replace(temporary, final)
    return final


def load_checkpoint(accelerator: Any, folder: Path) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and RNG states from `folder`; return its trainer state."""
    accelerator.load_state(str(folder / "state"))
    return json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))


def _replace(temporary: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final)
    os.rename(temporary, final)
    _fsync_directory(final.parent)


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    for path in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
        _fsync_directory(path)


def _fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
