"""Optimizer and learning-rate schedule shared by pretraining and fine-tuning."""

from __future__ import annotations

import math

import torch

# Parameters whose name contains one of these get no weight decay (BERT's practice).
NO_DECAY_MARKERS = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")


def build_optimizer(
    model: torch.nn.Module,
    lr: float,
    weight_decay: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay on all weights except biases and LayerNorm weights."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if any(marker in name for marker in NO_DECAY_MARKERS) else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)


def warmup_decay_factor(step: int, warmup_steps: int, total_steps: int, decay: str = "linear") -> float:
    """Multiplier of the peak LR at `step`: linear warm-up, then linear or cosine decay to 0."""
    if decay not in ("linear", "cosine", "constant"):
        raise ValueError(f"decay={decay!r}, must be one of 'linear', 'cosine', 'constant'")
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if decay == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(max(progress, 0.0), 1.0)
    if decay == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_lr_scheduler(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, decay: str = "linear"
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR applying `warmup_decay_factor`; step it once per optimizer step."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_decay_factor(step, warmup_steps, total_steps, decay)
    )
