"""Two CPU processes under `accelerate launch` (gloo): both processes agree on the loss, one writes files.

accelerate 1.x runs `accelerate launch --cpu --num_processes 2` as ONE process unless mpirun is set
up (its simple launcher); two local CPU processes come from its torchrun launcher (`--multi_gpu`)
with ACCELERATE_USE_CPU=1, which makes every process pick the gloo backend.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_two_cpu_processes_agree_and_only_the_main_one_writes(write_recipe, tmp_path: Path) -> None:
    out = tmp_path / "run"
    recipe = write_recipe(out, max_steps=4, batch_size=4, eval_every=4, save_every=2)
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    command = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "mlmkit", "pretrain", str(recipe)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, capture_output=True, text=True, timeout=400, env=env)
    assert done.returncode == 0, done.stderr[-3000:]

    reports = re.findall(r"process (\d)/2: step (\d+), loss ([\d.]+)", done.stdout)
    assert sorted(index for index, _, _ in reports) == ["0", "1"], done.stdout[-2000:]
    assert reports[0][1:] == reports[1][1:]  # same step, same loss
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_rows = [row for row in rows if "loss" in row]
    assert [row["step"] for row in train_rows] == [1, 2, 3, 4]  # written once, by one process
    assert train_rows[-1]["tokens_seen"] == 4 * 2 * 4 * 32  # steps x processes x batch x length
    assert float(reports[0][2]) == pytest.approx(train_rows[-1]["loss"], abs=1e-6)
    state = out / "checkpoints" / "step-000004" / "state"
    assert {p.name for p in state.glob("random_states_*")} == {"random_states_0.pkl", "random_states_1.pkl"}
    assert not list((out / "checkpoints").glob(".tmp-*"))
    assert (out / "final" / "model.safetensors").is_file()
