"""Pretraining: the one Accelerate loop (`pretrain`), objectives, checkpoints, optimizer."""

from __future__ import annotations

from typing import Any

__all__ = ["pretrain"]


def __getattr__(name: str) -> Any:
    # Lazy (PEP 562): importing mlmkit.train.optim must not import accelerate.
    if name == "pretrain":
        from mlmkit.train.loop import pretrain

        return pretrain
    raise AttributeError(f"module 'mlmkit.train' has no attribute {name!r}")
