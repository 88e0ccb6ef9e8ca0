"""`train.report_to`: send the loop's metrics to TensorBoard, Weights & Biases or MLflow, as
`TrainingArguments.report_to` does, through Accelerate's trackers (`Accelerator(log_with=...)`,
`init_trackers`, `log`). metrics.jsonl is written whatever this says.

Values: "none" (the default, as in transformers 5), "all" (every installed one of the three), or one or
more names. Trackers write under OUTPUT_DIR/logs (TensorBoard: OUTPUT_DIR/logs/mlmkit; MLflow: a local
store there unless MLFLOW_TRACKING_URI is set); W&B logs to the project "mlmkit", run named after OUTPUT_DIR.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

from mlmkit.errors import MlmkitError, did_you_mean

# report_to name -> (module that must import, what to install)
TRACKERS = {"tensorboard": ("tensorboard", "pip install 'mlmkit[tensorboard]'"), "wandb": ("wandb", "pip install wandb"),
            "mlflow": ("mlflow", "pip install mlflow")}
PROJECT = "mlmkit"


def log_with(report_to: tuple[str, ...] | list[str]) -> list[str]:
    """The Accelerate tracker names for `train.report_to`.

    Raises:
        MlmkitError: an unknown name, or a named tracker whose package is not installed.
    """
    names = list(report_to)
    valid = [*TRACKERS, "all", "none"]
    for name in names:
        if name not in valid:
            raise MlmkitError(f"train.report_to: {name!r} is not a tracker{did_you_mean(name, valid)}; choose from {', '.join(valid)}")
    if "none" in names:
        if len(names) > 1:
            raise MlmkitError(f"train.report_to={names}: 'none' cannot be combined with trackers")
        return []
    if "all" in names:
        return [name for name in TRACKERS if _installed(name)]
    for name in names:
        if not _installed(name):
            raise MlmkitError(f"train.report_to={name} needs the {TRACKERS[name][0]} package: {TRACKERS[name][1]} (or set train.report_to=none)")
    return list(dict.fromkeys(names))


def logging_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / "logs"


def start_trackers(accelerator: Any, config: Any) -> None:
    """Open the trackers of `accelerator` with the run's resolved config as hyperparameters."""
    if not accelerator.log_with:
        return
    run_name = Path(config.output_dir).name
    init_kwargs = {"wandb": {"name": run_name}, "mlflow": {"run_name": run_name}}
    accelerator.init_trackers(PROJECT, config=_flat(dataclasses.asdict(config)), init_kwargs=init_kwargs)


def log_row(accelerator: Any, row: dict[str, Any]) -> None:
    """Send a metrics row's numbers (all keys but `step`) at its step."""
    if accelerator.log_with:
        numbers = {key: value for key, value in row.items() if key != "step" and isinstance(value, (int, float))}
        accelerator.log(numbers, step=row["step"])


def stop_trackers(accelerator: Any) -> None:
    """Close the trackers (flush TensorBoard, finish the W&B / MLflow run). Not `end_training()`: that also
    destroys the process group, which a caller may still use (several runs in one process, as `compare` does)."""
    for tracker in accelerator.trackers:
        tracker.finish()


def _installed(name: str) -> bool:
    try:
        importlib.import_module(TRACKERS[name][0])
    except ImportError:
        return False
    return True


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"train.lr": 3e-4, ...}`; values TensorBoard's hparams cannot hold (lists, dicts, None) become strings."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return flat
