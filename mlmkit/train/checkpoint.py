"""Atomic, verifiable checkpoints with exact resume, and nothing unpickled on resume.

Layout: OUTPUT_DIR/checkpoints/step-000200/ holds
  model/                  save_pretrained model + tokenizer (AutoModelForMaskedLM / ...ForSequenceClassification)
  state/                  accelerator.save_state: weights, optimizer, RNG states of every process
                          (Accelerate loads these with torch.load(weights_only=True))
  state_objects.safetensors + the JSON in trainer_state.json: the state of the objects mlmkit keeps
                          itself (LR scheduler, a content schedule's running statistics), written
                          and read here, never through Accelerate's pickled custom checkpoints
  config.yaml             the resolved config in force when the checkpoint was written
  trainer_state.json      step, epoch, batch position, tokens seen, the tokenizer's vocabulary hash
                          and the size and sha256 of every other file (written last)

A checkpoint is written into a hidden temporary folder, fsynced, then renamed into place, so a crash
or a full disk mid-write leaves the previous checkpoint intact and never a half-written "newest" one.
`verify_checkpoint` checks a folder against its file list before anything is loaded: a truncated
or altered file, a missing one, or a file that is not on the list (a planted pickle) fails it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from mlmkit.data.corpus import file_sha256
from mlmkit.errors import MlmkitError

STATE_FILE = "trainer_state.json"
CONFIG_FILE = "config.yaml"
OBJECTS_FILE = "state_objects.safetensors"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_dir(output_dir: str | Path) -> Path:
    """Where the run's checkpoints live."""
    return Path(output_dir) / "checkpoints"


def step_folder(output_dir: str | Path, step: int) -> Path:
    """The folder of the checkpoint at `step` (which need not exist)."""
    return checkpoint_dir(output_dir) / f"step-{step:06d}"


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


def remove_temporary(output_dir: str | Path) -> list[Path]:
    """Delete `.tmp-step-N` folders that a run killed while saving left behind (main process, at start)."""
    stale = sorted(checkpoint_dir(output_dir).glob(".tmp-*"))
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return stale


def set_aside(folder: Path, reason: str) -> Path:
    """Rename a checkpoint that must not be resumed to `REASON-step-N` beside it (kept for inspection)."""
    target = folder.with_name(f"{reason}-{folder.name}")
    shutil.rmtree(target, ignore_errors=True)
    os.rename(folder, target)
    return target


def save_checkpoint(
    accelerator: Any,
    module: torch.nn.Module,
    tokenizer: Any,
    output_dir: str | Path,
    state: dict[str, Any],
    keep: int,
    config_yaml: str,
    objects: dict[str, Any],
) -> Path:
    """Write step-N atomically on all processes, then keep only the newest `keep` checkpoints.

    Every process must call this (accelerator.save_state stores each process's RNG state); only the
    main process writes the HF folder, the state objects, the config and the trainer state, and renames.

    Args:
        state: the position (step, epoch, ...) and other JSON facts for trainer_state.json.
        config_yaml: the resolved config, saved as config.yaml beside the state.
        objects: name -> object with `state_dict()`; tensors go to state_objects.safetensors, other
            values (JSON-able) to trainer_state.json.

    Raises:
        MlmkitError: writing failed (e.g. out of disk space); the previous checkpoint is untouched.
    """
    final = step_folder(output_dir, state["step"])
    temporary = final.with_name(f".tmp-{final.name}")
    failure = None
    if accelerator.is_main_process:
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
    accelerator.wait_for_everyone()
    try:
        accelerator.save_state(str(temporary / "state"))
    except OSError as error:
        failure = error
    accelerator.wait_for_everyone()  # every process's files are there before the file list is made
    if accelerator.is_main_process and failure is None:
        try:
            _write_main_files(accelerator, module, tokenizer, temporary, state, config_yaml, objects)
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


def _write_main_files(accelerator, module, tokenizer, folder: Path, state, config_yaml: str, objects) -> None:
    from safetensors.torch import save_file

    write_model(accelerator.unwrap_model(module).model, tokenizer, folder / "model")
    (folder / CONFIG_FILE).write_text(config_yaml, encoding="utf-8")
    tensors, plain = _split_objects(objects)
    save_file(tensors, str(folder / OBJECTS_FILE))
    files = {str(path.relative_to(folder)): _describe(path) for path in sorted(folder.rglob("*")) if path.is_file()}
    (folder / STATE_FILE).write_text(json.dumps({**state, "objects": plain, "files": files}, indent=2), encoding="utf-8")
    _fsync_tree(folder)


def _split_objects(objects: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, Any]]]:
    """State dicts -> (tensors keyed "object/key", the JSON-able rest per object)."""
    tensors, plain = {}, {}
    for name, obj in objects.items():
        plain[name] = {}
        for key, value in obj.state_dict().items():
            if isinstance(value, torch.Tensor):
                tensors[f"{name}/{key}"] = value.detach().cpu().contiguous()
            else:
                json.dumps(value)  # TypeError here means a state that needs its own format
                plain[name][key] = value
    return tensors, plain


def _describe(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": file_sha256(path)}


def verify_checkpoint(folder: Path) -> str | None:
    """None if `folder` is a complete, unaltered checkpoint, else the reason it is not (one phrase).

    Checks the trainer state parses, every listed file has its size and sha256, and no file that
    is not on the list sits in the folder (nothing unlisted is ever loaded, a pickle least of all).
    """
    try:
        record = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        files = record["files"]
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return f"{STATE_FILE} is unreadable or truncated ({error})"
    except (KeyError, TypeError):
        return f"{STATE_FILE} has no file list (written by an older mlmkit, which pickled scheduler state)"
    present = {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()} - {STATE_FILE}
    unlisted = sorted(present - set(files))
    if unlisted:
        return f"{unlisted[0]} is not one of the checkpoint's files (mlmkit never loads it)"
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != expected["bytes"]:
            return f"{name} has {path.stat().st_size} bytes, {expected['bytes']} were written (truncated?)"
        if file_sha256(path) != expected["sha256"]:
            return f"{name} differs from what was written (sha256 mismatch)"
    return None


def read_trainer_state(folder: Path) -> dict[str, Any]:
    """The trainer state of a verified checkpoint."""
    return json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))


def load_checkpoint(accelerator: Any, folder: Path, objects: dict[str, Any]) -> dict[str, Any]:
    """Restore model, optimizer and RNG states and the state `objects` from a verified `folder`.

    Returns:
        Its trainer state.

    Raises:
        MlmkitError: the saved tensors do not fit the model built from the recipe.
    """
    from safetensors.torch import load_file

    try:
        accelerator.load_state(str(folder / "state"))
    except RuntimeError as error:  # size mismatches of the model or optimizer state
        first_line = str(error).strip().splitlines()[-1].strip()
        raise MlmkitError(
            f"{folder} does not fit the model this recipe builds ({first_line[:200]}); resume with the "
            "recipe the run was started with, or start a new run in another output_dir"
        ) from None
    record = read_trainer_state(folder)
    tensors = load_file(str(folder / OBJECTS_FILE))
    for name, obj in objects.items():
        own = {key.split("/", 1)[1]: value for key, value in tensors.items() if key.split("/", 1)[0] == name}
        obj.load_state_dict({**record["objects"].get(name, {}), **own})
    return record


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
