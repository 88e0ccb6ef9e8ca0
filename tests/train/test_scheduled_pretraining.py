"""Schedules inside `mlmkit pretrain`: the rate follows the schedule, POS-weighted masking learns from the
loop's per-token losses, and both resume exactly from a checkpoint."""

import shutil

import pytest

from mlmkit.config import load_recipe
from mlmkit.schedules import build_schedule
from mlmkit.train import pretrain
from mlmkit.train.checkpoint import complete_checkpoints
from mlmkit.train.metrics import read_metrics

SCHEDULED = [
    "collator.name=pos_weighted",
    "collator.schedule={name: linear, start: 0.4, end: 0.15}",
]


def test_scheduled_pos_weighted_run_follows_schedule_and_resumes_exactly(write_recipe, tmp_path):
    straight = load_recipe(write_recipe(tmp_path / "straight"), SCHEDULED)
    result = pretrain(straight)
    rows = [row for row in read_metrics(tmp_path / "straight" / "metrics.jsonl") if "masking_rate" in row]
    schedule = build_schedule({"name": "linear", "start": 0.4, "end": 0.15})
    # Budgets round to whole tokens of ~31 per row (±0.02), and whole words overshoot by < one word per row.
    for row in rows:
        expected = schedule((row["step"] - 1) / 7)
        assert expected - 0.02 <= row["masking_rate"] <= expected + 0.08, row
    assert rows[0]["masking_rate"] > rows[-1]["masking_rate"] + 0.15
    assert result.step == 8

    # Resume from the step-4 checkpoint: the schedule position and the per-class loss EMA come back.
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(tmp_path / "straight", resumed_dir)
    for folder in complete_checkpoints(resumed_dir)[1:]:
        shutil.rmtree(folder)
    shutil.rmtree(resumed_dir / "final")
    pretrain(load_recipe(write_recipe(resumed_dir), SCHEDULED), resume=True)
    again = [row for row in read_metrics(resumed_dir / "metrics.jsonl") if "masking_rate" in row]
    assert [row["step"] for row in again] == [row["step"] for row in rows]
    for first, second in zip(rows, again):
        assert second["masking_rate"] == first["masking_rate"]
        assert second["loss"] == pytest.approx(first["loss"], rel=1e-5)
