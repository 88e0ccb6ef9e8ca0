"""mlmkit: masking strategies as drop-in collators, Accelerate pretraining, GLUE and SQuAD harnesses."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# Public name -> module that defines it, imported on first use.
_LAZY = {
    "build_collator": "mlmkit.collators",
    "MaskingScheduleCallback": "mlmkit.trainer_callback",
    "MaskedLossFeedback": "mlmkit.trainer_callback",
    "load_recipe": "mlmkit.config",
    "masked_lm_from_preset": "mlmkit.models.factory",
    "pretrain": "mlmkit.train.loop",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    # Lazy (PEP 562): `import mlmkit` and `mlmkit --help` must not import torch.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlmkit' has no attribute {name!r}")
