"""Two CPU processes under `accelerate launch` (gloo) train exactly as one process with gradient accumulation 2.

accelerate 1.x runs `accelerate launch --cpu --num_processes 2` as ONE process unless mpirun is set up (its
simple launcher); two local CPU processes come from its torchrun launcher (`--multi_gpu`) with
ACCELERATE_USE_CPU=1, which makes every process pick the gloo backend.

Process p trains on global batches p, p+2, ... and masks them by that global index, so the two processes
together see and mask what one process sees in two accumulated micro batches: the losses agree to float
tolerance (dropout is off: each process has its own dropout stream). Held-out numbers must not depend on the
process count (fixed masks per block, Accelerate's padding duplicates dropped).
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
import yaml

from mlmkit.config import load_recipe
from mlmkit.train import pretrain
from mlmkit.train.metrics import read_metrics

HERE = Path(__file__).resolve().parent


def two_process_recipe(write_recipe, out: Path, **train: object) -> Path:
    # 37 held-out blocks in batches of 8: 5 batches that 2 processes share 3 + 2, so Accelerate pads one.
    path = write_recipe(out, max_steps=4, batch_size=4, eval_every=2, save_every=2, eval_batch_size=8, **train)
    recipe = yaml.safe_load(path.read_text())
    recipe["data"]["max_eval_blocks"] = 37
    recipe["model"]["config"].update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_two_cpu_processes_train_as_one_with_gradient_accumulation_2(write_recipe, tmp_path: Path) -> None:
    out = tmp_path / "run"
    recipe = two_process_recipe(write_recipe, out)
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    command = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", str(HERE / "distributed_run.py"), str(recipe), str(tmp_path / "shards.json")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, capture_output=True, text=True, timeout=400, env=env)
    assert done.returncode == 0, done.stderr[-3000:]

    # Both processes agree on the loss they report; files are written once, by one process.
    reports = re.findall(r"process (\d)/2: step (\d+), last step's loss ([\d.]+)", done.stdout)
    assert sorted(index for index, _, _ in reports) == ["0", "1"], done.stdout[-2000:]
    assert reports[0][1:] == reports[1][1:]
    rows = read_metrics(out / "metrics.jsonl")
    train_rows = [row for row in rows if "loss" in row]
    assert [row["step"] for row in train_rows] == [1, 2, 3, 4]
    assert train_rows[-1]["tokens_seen"] == 4 * 2 * 4 * 32  # steps x processes x batch x length
    assert float(reports[0][2]) == pytest.approx(train_rows[-1]["loss"], abs=1e-6)

    # One checkpoint per save step, holding both processes' RNG states; one final model.
    assert sorted(path.name for path in (out / "checkpoints").iterdir()) == ["step-000002", "step-000004"]
    state = out / "checkpoints" / "step-000004" / "state"
    assert {p.name for p in state.glob("random_states_*")} == {"random_states_0.pkl", "random_states_1.pkl"}
    assert (out / "final" / "model.safetensors").is_file() and not list(out.glob(".tmp-*"))

    # Disjoint shards: the two processes train on different blocks, as many as their batches hold.
    shard_0, shard_1 = json.loads((tmp_path / "shards.json").read_text())
    assert len(shard_0) == len(shard_1) > 0 and len(set(shard_0)) == len(shard_0)
    assert not set(shard_0) & set(shard_1)

    # One process, gradient accumulation 2: the same losses, learning rates and held-out numbers.
    single = tmp_path / "single"
    config = load_recipe(two_process_recipe(write_recipe, single, gradient_accumulation_steps=2))
    pretrain(config)
    single_rows = read_metrics(single / "metrics.jsonl")
    single_train = [row for row in single_rows if "loss" in row]
    assert [row["loss"] for row in single_train] == pytest.approx([row["loss"] for row in train_rows], rel=1e-5)
    assert [row["lr"] for row in single_train] == pytest.approx([row["lr"] for row in train_rows], rel=1e-9)
    assert [row["tokens_seen"] for row in single_train] == [row["tokens_seen"] for row in train_rows]
    evals, single_evals = ([row for row in table if "eval_loss" in row] for table in (rows, single_rows))
    assert [row["step"] for row in evals] == [row["step"] for row in single_evals] == [2, 4]
    for two, one in zip(evals, single_evals):
        assert set(two) == set(one)
        for key in two:
            if key.startswith("eval_"):
                assert two[key] == pytest.approx(one[key], rel=1e-5, abs=1e-7), key
