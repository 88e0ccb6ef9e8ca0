"""Optimizer and learning-rate schedule shared by pretraining and fine-tuning."""

from __future__ import annotations

from typing import Any

import torch

from mlmkit.errors import MlmkitError, did_you_mean

# Parameters whose name contains one of these get no weight decay (BERT's practice).
NO_DECAY_MARKERS = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")


def build_optimizer(
    model: torch.nn.Module,
    lr: float,
    weight_decay: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    fused: bool = False,
) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay on all weights except biases and LayerNorm weights; `fused` runs
    each step as one kernel per parameter group (the loop's choice on CUDA)."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if any(marker in name for marker in NO_DECAY_MARKERS) else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=fused or None)


# transformers' schedules that step on a metric (eval loss), not once per optimizer step as our loops do.
_METRIC_SCHEDULES = ("reduce_lr_on_plateau", "greedy")


def lr_scheduler_types() -> list[str]:
    """Every `transformers.get_scheduler` name that steps once per optimizer step."""
    from transformers import SchedulerType

    return [kind.value for kind in SchedulerType if kind.value not in _METRIC_SCHEDULES]


def check_lr_scheduler_type(name: str) -> None:
    """Raise MlmkitError unless `name` is one of `lr_scheduler_types()`."""
    valid = lr_scheduler_types()
    if name not in valid:
        raise MlmkitError(f"train.lr_scheduler_type={name!r} is not a transformers schedule{did_you_mean(name, valid)}; choose one of {', '.join(valid)}")


def build_lr_scheduler(
    optimizer: torch.optim.Optimizer,
    warmup_steps: int,
    total_steps: int,
    lr_scheduler_type: str = "linear",
    lr_scheduler_kwargs: dict[str, Any] | None = None,
) -> torch.optim.lr_scheduler.LRScheduler:
    """`transformers.get_scheduler` (as `TrainingArguments.lr_scheduler_type`); step it once per optimizer step.

    Its state (the step count) is all a checkpoint needs: the schedule is rebuilt from the config on resume.

    Raises:
        MlmkitError: an unknown schedule name, or keyword arguments the schedule does not take.
    """
    from transformers import get_scheduler

    check_lr_scheduler_type(lr_scheduler_type)
    try:
        return get_scheduler(
            lr_scheduler_type, optimizer, num_warmup_steps=warmup_steps, num_training_steps=total_steps,
            scheduler_specific_kwargs=dict(lr_scheduler_kwargs or {}),
        )
    except TypeError as error:
        raise MlmkitError(f"train.lr_scheduler_kwargs={lr_scheduler_kwargs!r} do not fit schedule {lr_scheduler_type!r}: {error}") from error
