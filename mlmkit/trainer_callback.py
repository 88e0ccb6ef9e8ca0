"""Connect scheduled collators to `transformers.Trainer`.

A rate schedule needs the training length and the epoch: the collator derives training progress
from its global batch index, and both are set before the epoch's DataLoader iterator (and so its
worker processes) is created, which is when workers copy the collator. A content schedule that
learns from the model's loss (POS-weighted masking) also needs the per-token loss, which
`MaskedLossFeedback` computes as the Trainer's `compute_loss_func`.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import TrainerCallback

from mlmkit.masking.corruption import IGNORE_INDEX


class MaskingScheduleCallback(TrainerCallback):
    """`Trainer(..., data_collator=collator, callbacks=[MaskingScheduleCallback(collator)])`.

    Gives the collator the number of batches of the whole run and, each epoch, the epoch and the
    global index of its first batch, so scheduled rates and masks follow training exactly.
    """

    def __init__(self, collator: Any) -> None:
        self.collator = collator
        self.batches_per_epoch = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, train_dataloader: Any = None, **kwargs: Any) -> None:
        self.batches_per_epoch = len(train_dataloader)
        self.collator.set_total_batches(state.max_steps * args.gradient_accumulation_steps)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        """Add the scheduled masking rate of the step's last batch to the Trainer's log row."""
        if self.collator.schedule is None or logs is None:
            return
        last_batch = state.global_step * args.gradient_accumulation_steps - 1
        rate = round(float(self.collator.schedule(self.collator.progress(last_batch))), 6)
        logs["masking_rate"] = rate
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1]["masking_rate"] = rate

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        epoch = int(round(state.epoch or 0))
        self.collator.set_epoch(epoch, start_batch=epoch * self.batches_per_epoch)


class MaskedLossFeedback:
    """`Trainer(..., compute_loss_func=MaskedLossFeedback(collator))` for strategies that learn from the
    loss (`observe(labels, token_losses)`, e.g. "pos_weighted"): the usual MLM cross-entropy, whose
    per-token values are also handed to the collator's strategy."""

    def __init__(self, collator: Any) -> None:
        if not hasattr(collator.masker, "observe"):
            raise TypeError(f"{type(collator.masker).__name__} does not learn from the loss; no feedback needed")
        self.masker = collator.masker

    def __call__(self, outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        selected = labels != IGNORE_INDEX  # (B, T)
        logits = outputs["logits"][selected]  # (N, V)
        token_losses = torch.nn.functional.cross_entropy(logits.float(), labels[selected], reduction="none")  # (N,)
        self.masker.observe(labels[selected], token_losses.detach())
        count = num_items_in_batch if num_items_in_batch is not None else selected.sum()
        return token_losses.sum() / count
