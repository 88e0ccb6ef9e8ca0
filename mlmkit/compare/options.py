"""What `mlmkit compare` compares and under which budget: one dataclass, the defaults' only home.

Kept apart from the runner so that the CLI reads the defaults without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CompareOptions:
    """What to compare and under which budget (defaults: the README demo, a few minutes on 2 CPU cores)."""

    strategies: tuple[str, ...] = ("random", "span")  # the demo: 2 × 500 steps + 9 fine-tunings ≈ 4.5 min on 2 cores
    corpus: tuple[str, ...] = ()  # default: the embedded WikiText corpus
    out: str = "runs/compare"
    max_steps: int = 500  # every seed of the tiny recipe left the unigram plateau by step 300
    minutes: float | None = None  # per strategy; overrides max_steps after a timing probe
    family: str = "modernbert"  # the tiny-cpu recipe's: post-LN BERT stays at the unigram baseline at this size
    model_size: str = "tiny"
    seq_len: int = 128
    batch_size: int = 32
    lr: float = 3e-3
    vocab_size: int = 4000
    mlm_probability: float = 0.3  # the tiny-cpu recipe's (ModernBERT's): at 15% leaving the unigram plateau depends on the seed
    strategy_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # by strategy or run name
    late_mask: tuple[str, ...] = ()  # strategies also run as 3ML late-mask models
    late_layers: int | None = None  # default: 2 (3ML's base set-up), at most half the model's layers
    glue_tasks: tuple[str, ...] = ("sst2",)
    glue_data_dir: str | None = None  # default: the SST-2 sample shipped with mlmkit
    max_train_samples: int | None = 2000
    max_eval_samples: int | None = None
    glue_epochs: float | None = None
    glue_lr: float | None = None  # by model width, as `mlmkit glue` (mlmkit.eval.glue.run.LR_BY_WIDTH)
    seeds: tuple[int, ...] = (1, 2, 3)  # fine-tuning seeds of every model, as in `mlmkit glue --seeds`
    pretrain_seeds: tuple[int, ...] = (0,)  # one pretraining run per strategy and seed (init, data order, masks)
