"""train.report_to sends the metrics.jsonl rows to Accelerate's trackers, as TrainingArguments.report_to does."""

from __future__ import annotations

import sys

import pytest

from mlmkit.config import load_recipe
from mlmkit.errors import MlmkitError
from mlmkit.train import pretrain
from mlmkit.train.metrics import read_metrics
from mlmkit.train.trackers import log_with


def test_tensorboard_gets_every_metrics_row(write_recipe, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    pretrain(load_recipe(write_recipe(out, max_steps=4, eval_every=2, save_every=4, report_to="tensorboard")))
    events = EventAccumulator(str(out / "logs" / "mlmkit"))
    events.Reload()
    rows = read_metrics(out / "metrics.jsonl")
    for key in ("loss", "lr", "masking_rate", "eval_loss", "eval_accuracy"):
        expected = [(row["step"], row[key]) for row in rows if key in row]
        logged = [(event.step, event.value) for event in events.Scalars(key)]
        assert [step for step, _ in logged] == [step for step, _ in expected] and expected
        assert [value for _, value in logged] == pytest.approx([value for _, value in expected], rel=1e-6)


def test_nothing_but_metrics_jsonl_by_default(write_recipe, tmp_path):
    out = tmp_path / "run"
    pretrain(load_recipe(write_recipe(out, max_steps=1, eval_every=1, save_every=1)))
    assert (out / "metrics.jsonl").is_file() and not (out / "logs").exists()


def test_report_to_names_are_checked(monkeypatch):
    assert log_with(["none"]) == [] and log_with(["tensorboard", "tensorboard"]) == ["tensorboard"]
    assert "tensorboard" in log_with(["all"])
    with pytest.raises(MlmkitError, match="'tensorbord' is not a tracker; did you mean 'tensorboard'"):
        log_with(["tensorbord"])
    with pytest.raises(MlmkitError, match="'none' cannot be combined"):
        log_with(["none", "tensorboard"])
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    with pytest.raises(MlmkitError, match="train.report_to=wandb needs the wandb package: pip install wandb"):
        log_with(["wandb"])
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(MlmkitError, match=r"pip install 'mlmkit\[tensorboard\]'"):
        log_with(["tensorboard"])
    assert "tensorboard" not in log_with(["all"])
