"""Exact resume after SIGKILL, stop on a non-finite loss, and a full disk while checkpointing."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlmkit.config import load_recipe
from mlmkit.errors import MlmkitError
from mlmkit.train import checkpoint, pretrain
from mlmkit.train.objectives import MaskedLMModule

# Runs the CLI in a child process that SIGKILLs itself right after optimizer step 6, i.e. two steps
# after its last checkpoint (step 4) and in the middle of the run, with work to lose.
KILLED_RUN = """
import os, signal, sys
from mlmkit.train import loop
after_step = loop._Loop._after_step
def after_step_then_die(self, position, bar):
    after_step(self, position, bar)
    if position.step == 6:
        os.kill(os.getpid(), signal.SIGKILL)
loop._Loop._after_step = after_step_then_die
from mlmkit.cli import main
sys.exit(main(["pretrain", sys.argv[1]]))
"""


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_run_killed_and_resumed_matches_an_uninterrupted_run(write_recipe, tmp_path: Path) -> None:
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    pretrain(load_recipe(write_recipe(whole, save_every=2)))

    recipe = write_recipe(killed, save_every=2)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(recipe)], capture_output=True, text=True, timeout=300, env=env
    )
    assert child.returncode == -9, child.stderr[-2000:]
    assert checkpoint.latest_checkpoint(killed).name == "step-000006"
    assert not (killed / "final").exists()
    # The newest checkpoint is at step 6; remove it so the resume starts from step 4 and has to replay
    # steps 5 and 6 (which the killed run had already logged) as well as 7 and 8.
    shutil.rmtree(killed / "checkpoints" / "step-000006")
    pretrain(load_recipe(recipe, ["train.resume=auto"]))

    expected, got = _rows(whole), _rows(killed)
    assert [row["step"] for row in got] == [row["step"] for row in expected]
    for want, have in zip(expected, got):
        for key in ("loss", "lr", "masking_rate", "tokens_seen", "eval_loss", "eval_accuracy"):
            if key in want:
                assert have[key] == pytest.approx(want[key], rel=1e-5, abs=1e-7), (want["step"], key)
    assert sorted(p.name for p in (killed / "checkpoints").iterdir()) == ["step-000006", "step-000008"]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(write_recipe, tmp_path: Path, monkeypatch) -> None:
    forward, calls = MaskedLMModule.forward, []

    def poisoned(self, *args, **kwargs):
        outputs = forward(self, *args, **kwargs)
        if self.training:
            calls.append(1)
            if len(calls) == 6:
                outputs["loss"] = outputs["loss"] * float("nan")
        return outputs

    monkeypatch.setattr(MaskedLMModule, "forward", poisoned)
    out = tmp_path / "run"
    with pytest.raises(MlmkitError, match=r"loss became nan at step 6.*Last good checkpoint: .*step-000004"):
        pretrain(load_recipe(write_recipe(out)))
    assert checkpoint.latest_checkpoint(out).name == "step-000004"
    assert not (out / "final").exists()


def test_full_disk_while_checkpointing_keeps_the_previous_checkpoint(write_recipe, tmp_path: Path, monkeypatch) -> None:
    from transformers import AutoModelForMaskedLM

    write_model, calls = checkpoint.write_model, []

    def disk_fills_up(model, tokenizer, folder):
        calls.append(folder)
        if len(calls) == 2:
            write_model(model, tokenizer, folder)  # half of the files are there when the disk fills up
            raise OSError(errno.ENOSPC, "No space left on device")
        write_model(model, tokenizer, folder)

    monkeypatch.setattr(checkpoint, "write_model", disk_fills_up)
    out = tmp_path / "run"
    with pytest.raises(MlmkitError, match=r"No space left.*previous checkpoint is intact: .*step-000004"):
        pretrain(load_recipe(write_recipe(out)))
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-000004"]
    AutoModelForMaskedLM.from_pretrained(out / "checkpoints" / "step-000004" / "model", local_files_only=True)
