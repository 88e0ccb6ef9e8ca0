"""Connect scheduled collators to `transformers.Trainer`.

Masks need no callback (the collator seeds every batch from its content and counts epochs itself). A
rate schedule needs the training length and the position: the collator derives training progress from
its global batch index, which this callback sets before each epoch's DataLoader iterator (and so its
worker processes) is created, which is when workers copy the collator, also on resume mid-epoch.
Evaluation batches collated by the same collator in the main process never move that index. A content schedule that
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
    global index of its next batch (counting the batches a resumed run skips), so scheduled rates
    follow training exactly; keeps evaluation from moving that index; logs the applied rate.
    """

    def __init__(self, collator: Any) -> None:
        self.collator = collator
        self.batches_per_epoch = 0
        self.gradient_accumulation_steps = 1
        self.position: tuple[int, int] | None = None

    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch, as the Trainer counts them (a partial last accumulation is a step)."""
        return max(-(-self.batches_per_epoch // self.gradient_accumulation_steps), 1)

    def batches_before(self, step: int) -> int:
        """Training batches consumed by the first `step` optimizer steps (an epoch's last step may take fewer
        than gradient_accumulation_steps batches)."""
        epochs, steps = divmod(step, self.steps_per_epoch())
        return epochs * self.batches_per_epoch + steps * self.gradient_accumulation_steps

    def on_train_begin(self, args: Any, state: Any, control: Any, train_dataloader: Any = None, **kwargs: Any) -> None:
        self.batches_per_epoch = len(train_dataloader)
        self.gradient_accumulation_steps = args.gradient_accumulation_steps
        self.collator.set_total_batches(max(self.batches_before(state.max_steps), 1))

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        epoch = state.global_step // self.steps_per_epoch()  # also right when resuming mid-epoch
        self.collator.set_epoch(epoch, start_batch=self.batches_before(state.global_step))

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Remember where training is: evaluation may follow, with batches from the same collator."""
        self.position = self.collator.training_position()

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Put the training position back: evaluation batches are not training progress."""
        if self.position is not None:
            self.collator.restore_position(self.position)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        """Add the masking rate applied to the step's last training batch to the Trainer's log row."""
        if self.collator.schedule is None or logs is None or state.global_step < 1:
            return
        last_batch = self.batches_before(state.global_step) - 1
        rate = round(float(self.collator.schedule(self.collator.progress(last_batch))), 6)
        logs["masking_rate"] = rate
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1]["masking_rate"] = rate


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
