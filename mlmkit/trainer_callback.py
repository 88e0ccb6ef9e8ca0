"""Connect a scheduled collator to `transformers.Trainer`.

The collator derives training progress from its global batch index; the Trainer only has to tell
it the training length and the epoch. Both happen before the epoch's DataLoader iterator (and so
its worker processes) is created, which is when workers copy the collator.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback


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
        """Add the scheduled masking rate of the last batch to the Trainer's log row."""
        if self.collator.schedule is None or logs is None:
            return
        progress = min(1.0, state.global_step * args.gradient_accumulation_steps / self.collator.total_batches)
        rate = round(float(self.collator.schedule(progress)), 6)
        logs["masking_rate"] = rate
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1]["masking_rate"] = rate

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        epoch = int(round(state.epoch or 0))
        self.collator.set_epoch(epoch, start_batch=epoch * self.batches_per_epoch)
