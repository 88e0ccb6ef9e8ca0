"""LR schedules are transformers' (`get_scheduler`, every name `TrainingArguments.lr_scheduler_type` takes)."""

from __future__ import annotations

import pytest
import torch

from mlmkit.errors import MlmkitError
from mlmkit.train.optim import build_lr_scheduler, build_optimizer, lr_scheduler_types


def learning_rates(scheduler, steps: int) -> list[float]:
    rates = []
    for _ in range(steps):
        rates.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    return rates


def fresh_optimizer(lr: float = 1.0) -> torch.optim.Optimizer:
    return build_optimizer(torch.nn.Linear(2, 2), lr=lr)


def test_every_step_wise_transformers_schedule_is_accepted():
    assert {"linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "inverse_sqrt",
            "cosine_with_min_lr", "warmup_stable_decay"} <= set(lr_scheduler_types())
    assert "reduce_lr_on_plateau" not in lr_scheduler_types()  # steps on an eval metric, not per optimizer step


def test_linear_and_cosine_with_min_lr_follow_their_formulas():
    assert learning_rates(build_lr_scheduler(fresh_optimizer(), 2, 6, "linear"), 6) == pytest.approx([0, 0.5, 1, 0.75, 0.5, 0.25])
    rates = learning_rates(build_lr_scheduler(fresh_optimizer(), 0, 4, "cosine_with_min_lr", {"min_lr_rate": 0.1}), 5)
    assert rates[0] == pytest.approx(1.0) and rates[2] == pytest.approx(0.55) and rates[4] == pytest.approx(0.1)


@pytest.mark.parametrize("name, kwargs", [("linear", {}), ("cosine", {}), ("warmup_stable_decay", {"num_decay_steps": 4})])
def test_a_restored_schedule_continues_exactly(name, kwargs):
    """What --resume relies on: the state dict holds the step; the rebuilt schedule continues the same curve."""
    whole = learning_rates(build_lr_scheduler(fresh_optimizer(0.1), 3, 12, name, kwargs), 12)
    first = build_lr_scheduler(fresh_optimizer(0.1), 3, 12, name, kwargs)
    learning_rates(first, 5)
    resumed = build_lr_scheduler(fresh_optimizer(0.1), 3, 12, name, kwargs)
    resumed.load_state_dict(first.state_dict())
    assert learning_rates(resumed, 7) == whole[5:]


def test_unknown_names_and_wrong_kwargs_are_one_line_errors():
    with pytest.raises(MlmkitError, match="lr_scheduler_type='cosin' is not a transformers schedule; did you mean 'cosine'"):
        build_lr_scheduler(fresh_optimizer(), 0, 10, "cosin")
    with pytest.raises(MlmkitError, match="lr_scheduler_kwargs=\\{'bogus': 1\\} do not fit schedule 'cosine'"):
        build_lr_scheduler(fresh_optimizer(), 0, 10, "cosine", {"bogus": 1})
