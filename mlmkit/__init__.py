"""mlmkit: masking strategies as drop-in collators, Accelerate pretraining, GLUE and SQuAD harnesses."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "build_collator"]


def __getattr__(name: str) -> Any:
    # Lazy (PEP 562): `import mlmkit` and `mlmkit --help` must not import torch.
    if name == "build_collator":
        from mlmkit.collators import build_collator

        return build_collator
    raise AttributeError(f"module 'mlmkit' has no attribute {name!r}")
