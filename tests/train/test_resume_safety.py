"""A resumed run never loses, mixes or executes anything: damaged checkpoints are skipped, a changed recipe
is refused or applied for real, a planted pickle never runs, metrics survive a kill right after a
resume, and the NaN guard names a checkpoint that really is good."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlmkit.cli import main
from mlmkit.config import load_recipe
from mlmkit.errors import MlmkitError
from mlmkit.train import checkpoint, pretrain
from mlmkit.train.metrics import read_metrics


@pytest.fixture(scope="module")
def finished_run(trained_tokenizers, prepared_blocks, tmp_path_factory) -> tuple[Path, Path]:
    """(recipe, run folder) of an 8-step run with checkpoints at steps 4 and 8, trained once."""
    root = tmp_path_factory.mktemp("finished")
    recipe = root / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(_tree(trained_tokenizers, prepared_blocks, root / "run")), encoding="utf-8")
    pretrain(load_recipe(recipe))
    return recipe, root / "run"


def _tree(trained_tokenizers, prepared_blocks, output_dir: Path) -> dict:
    return {
        "tokenizer": {"path": str(trained_tokenizers["wordpiece"])},
        "data": {"path": str(prepared_blocks), "seq_len": 32, "max_eval_blocks": 32},
        "model": {"family": "bert", "size": "tiny", "config": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}},
        "collator": {"name": "random", "options": {"mlm_probability": 0.15}},
        "train": {"max_steps": 8, "batch_size": 8, "lr": 1e-3, "warmup_steps": 2, "log_every": 1, "eval_every": 4,
                  "eval_batch_size": 16, "save_every": 4, "seed": 3},
        "output_dir": str(output_dir),
    }  # fmt: skip


def _copy_without_final(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "final")
    return copy


def _resume(recipe: Path, run: Path, *overrides: str) -> int:
    return main(["pretrain", str(recipe), f"output_dir={run}", *overrides, "--resume"])


DAMAGE = {
    "truncated-weights": lambda folder: _truncate(folder / "state" / "model.safetensors"),
    "truncated-trainer-state": lambda folder: _truncate(folder / checkpoint.STATE_FILE),
    "empty-state": lambda folder: [path.unlink() for path in (folder / "state").iterdir()],
}


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_resume_skips_a_damaged_checkpoint_and_uses_the_previous_one(damage, finished_run, tmp_path, capsys) -> None:
    recipe, run = finished_run
    copy = _copy_without_final(run, tmp_path)
    DAMAGE[damage](copy / "checkpoints" / "step-000008")
    with open(copy / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 9, "lo')  # torn by the kill that damaged the checkpoint
    assert _resume(recipe, copy) == 0
    printed = "".join(capsys.readouterr())
    assert "skipped checkpoint step-000008:" in printed and "resumed from" in printed and "step 4" in printed
    assert (copy / "checkpoints" / "damaged-step-000008").is_dir()  # kept for inspection, never resumed
    assert [row["step"] for row in read_metrics(copy / "metrics.jsonl") if "loss" in row] == list(range(1, 9))
    assert (copy / "final" / "config.json").is_file()


def test_a_planted_pickle_never_runs(finished_run, tmp_path, capsys) -> None:
    recipe, run = finished_run
    copy = _copy_without_final(run, tmp_path)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('ran')",))

    import pickle

    for folder in checkpoint.complete_checkpoints(copy):
        (folder / "state" / "custom_checkpoint_0.pkl").write_bytes(pickle.dumps(Payload()))
    assert _resume(recipe, copy) == 2
    error = capsys.readouterr()
    assert "custom_checkpoint_0.pkl is not one of the checkpoint's files (mlmkit never loads it)" in error.out + error.err
    assert not marker.exists()
    # Only the newest trapped: the run falls back to the clean one and completes, still without running it.
    shutil.move(copy / "checkpoints" / "damaged-step-000004", copy / "checkpoints" / "step-000004")
    (copy / "checkpoints" / "step-000004" / "state" / "custom_checkpoint_0.pkl").unlink()
    shutil.move(copy / "checkpoints" / "damaged-step-000008", copy / "checkpoints" / "step-000008")
    assert _resume(recipe, copy) == 0 and not marker.exists()


@pytest.mark.parametrize(
    ("override", "listed"),
    [
        ("train.batch_size=16", r"train\.batch_size: 8 -> 16"),
        ("collator.name=span", r"collator\.name: 'random' -> 'span'"),
        ("model.size=mini", r"model\.size: 'tiny' -> 'mini'"),
        ("model.config.hidden_size=64", r"model\.config\.hidden_size: 32 -> 64"),
        ("train.seed=4", r"train\.seed: 3 -> 4"),
    ],
)
def test_resume_refuses_fields_that_change_the_run(override, listed, finished_run, tmp_path, capsys) -> None:
    recipe, run = finished_run
    copy = _copy_without_final(run, tmp_path)
    before = (copy / "metrics.jsonl").read_text()
    assert _resume(recipe, copy, override) == 2
    error = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("mlmkit pretrain: error"))
    assert "differs from step-000008's config.yaml in fields that change what the run computes" in error
    import re

    assert re.search(listed, error), error
    assert (copy / "metrics.jsonl").read_text() == before


def test_resume_refuses_another_tokenizer_at_the_same_path(small_corpus, tmp_path, capsys) -> None:
    """The run trains its tokenizer into OUTPUT_DIR/tokenizer; swapping two of its ids before a resume
    changes no recipe field, and the checkpoint's vocabulary hash catches it."""
    tree = {
        "tokenizer": {"vocab_size": 800},
        "data": {"corpus": [str(small_corpus)], "seq_len": 32, "max_eval_blocks": 8},
        "model": {"family": "bert", "size": "tiny", "config": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}},
        "train": {"max_steps": 2, "batch_size": 8, "eval_every": 2, "save_every": 2},
        "output_dir": str(tmp_path / "run"),
    }
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(tree))
    pretrain(load_recipe(recipe))
    state = tmp_path / "run" / "tokenizer" / "tokenizer.json"
    vocab = json.loads(state.read_text())
    ids = vocab["model"]["vocab"]
    first, second = sorted(ids, key=ids.get)[100:102]
    ids[first], ids[second] = ids[second], ids[first]
    state.write_text(json.dumps(vocab))
    assert _resume(recipe, tmp_path / "run", "train.max_steps=4") == 2
    assert "the tokenizer differs from the one step-000002 was trained with" in capsys.readouterr().err


def test_resume_applies_a_changed_lr_and_keeps_the_config_history(finished_run, tmp_path) -> None:
    recipe, run = finished_run
    copy = _copy_without_final(run, tmp_path)
    shutil.rmtree(copy / "checkpoints" / "step-000008")
    started = (copy / "config.yaml").read_text()
    assert _resume(recipe, copy, "train.lr=0.5", "train.max_steps=10") == 0
    rows = [row for row in read_metrics(copy / "metrics.jsonl") if "loss" in row]
    assert [row["step"] for row in rows] == list(range(1, 11))
    # Linear decay after 2 warm-up steps over 10 steps: step 5 runs at 0.5 * (1 - (4 - 2) / 8).
    assert rows[4]["lr"] == pytest.approx(0.5 * (1 - 2 / 8))
    assert rows[3]["lr"] == pytest.approx(1e-3 * (1 - 1 / 6))  # before the resume: the old run's lr
    assert (copy / "config.yaml").read_text() == started  # how the run started: not overwritten
    history = yaml.safe_load((copy / "config-step-000004.yaml").read_text())
    assert history["train"]["lr"] == 0.5 and history["train"]["max_steps"] == 10


def test_a_fresh_run_refuses_a_folder_that_holds_a_run(finished_run, tmp_path, capsys) -> None:
    recipe, run = finished_run
    copy = _copy_without_final(run, tmp_path)
    assert main(["pretrain", str(recipe), f"output_dir={copy}"]) == 2
    assert "already holds a run (newest checkpoint step-000008); continue it with --resume" in capsys.readouterr().err


def test_leftovers_of_killed_saves_are_removed_by_the_next_run(finished_run, small_corpus, trained_tokenizers, tmp_path) -> None:
    from mlmkit.data.pipeline import prepare_dataset
    from mlmkit.data.tokenizer import load_mlm_tokenizer

    recipe, run = finished_run
    copy = _copy_without_final(run, tmp_path)
    shutil.copytree(copy / "checkpoints" / "step-000004", copy / "checkpoints" / ".tmp-step-000012")
    assert _resume(recipe, copy) == 0
    assert not (copy / "checkpoints" / ".tmp-step-000012").exists()
    (tmp_path / ".data.partial-abc123").mkdir()
    (tmp_path / ".data.partial-abc123" / "half.arrow").write_bytes(b"x")
    prepare_dataset(load_mlm_tokenizer(trained_tokenizers["wordpiece"]), seq_len=32, out_dir=tmp_path / "data", corpus_files=[small_corpus])
    assert not (tmp_path / ".data.partial-abc123").exists()


# A child that resumes and is SIGKILLed right after the metrics file is reopened, before any new row.
KILLED_AFTER_RESUME = """
import os, signal, sys
from mlmkit.train import metrics
opened = metrics.MetricsLog.__init__
def open_then_die(self, *args, **kwargs):
    opened(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
metrics.MetricsLog.__init__ = open_then_die
from mlmkit.cli import main
sys.exit(main(["pretrain", sys.argv[1], "output_dir=" + sys.argv[2], "--resume"]))
"""


def test_a_kill_right_after_a_resume_keeps_every_metrics_row(finished_run, tmp_path) -> None:
    recipe, run = finished_run
    copy = _copy_without_final(run, tmp_path)
    shutil.rmtree(copy / "checkpoints" / "step-000008")
    kept = [row for row in read_metrics(copy / "metrics.jsonl") if row["step"] <= 4]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.run([sys.executable, "-c", KILLED_AFTER_RESUME, str(recipe), str(copy)], capture_output=True, text=True, timeout=300, env=env)
    assert child.returncode == -9, child.stderr[-2000:]
    assert read_metrics(copy / "metrics.jsonl") == kept  # the old code left an empty file here
    assert _resume(recipe, copy) == 0
    assert [row["step"] for row in read_metrics(copy / "metrics.jsonl") if "loss" in row] == list(range(1, 9))


def test_divergence_names_a_checkpoint_with_finite_loss_that_resumes(finished_run, tmp_path, capsys) -> None:
    import torch
    from transformers import AutoModelForMaskedLM

    recipe, run = finished_run
    copy = _copy_without_final(run, tmp_path)
    shutil.rmtree(copy / "checkpoints" / "step-000008")
    # From step 4 at lr 1e6 (a resume applies it), saving every step: the updates blow the weights up.
    assert _resume(recipe, copy, "train.lr=1e6", "train.save_every=1", "train.max_steps=30") == 2
    error = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("mlmkit pretrain: error"))
    assert "stopped before the optimizer step" in error
    named = error.split("Last good checkpoint: ")[1].split(". ")[0]
    assert named != "none (start afresh)"
    model = AutoModelForMaskedLM.from_pretrained(Path(named) / "model", local_files_only=True)
    ids = torch.arange(5, 37).reshape(1, 32)
    assert torch.isfinite(model(input_ids=ids, labels=ids).loss)
    assert not any(path.name.startswith("non-finite") for path in checkpoint.complete_checkpoints(copy))
    assert _resume(recipe, copy, "train.lr=1e-3", "train.max_steps=30", "train.save_every=4") == 0
    rows = [row for row in read_metrics(copy / "metrics.jsonl") if "loss" in row]
    assert rows[-1]["step"] == 30 and all(row["loss"] == row["loss"] for row in rows)


def test_readme_lists_every_field_a_resume_may_change() -> None:
    from mlmkit.config import CHANGEABLE_ON_RESUME

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**Resuming.**") :]
    assert [key for key in CHANGEABLE_ON_RESUME if f"`{key}`" not in section] == []


def test_a_non_finite_gradient_stops_before_the_update(finished_run, tmp_path, monkeypatch) -> None:
    from mlmkit.train.objectives import MaskedLMModule

    forward, calls = MaskedLMModule.forward, []

    def poisoned(self, *args, **kwargs):
        outputs = forward(self, *args, **kwargs)
        if self.training:
            calls.append(1)
            if len(calls) == 6:  # finite loss, NaN gradient: d sqrt(u)/du is infinite at u = 0, times 0
                weight = next(self.parameters())
                outputs["loss"] = outputs["loss"] + (weight.sum() * 0).sqrt()
        return outputs

    monkeypatch.setattr(MaskedLMModule, "forward", poisoned)
    recipe, _ = finished_run
    out = tmp_path / "run"
    with pytest.raises(MlmkitError, match=r"gradient norm became nan at step 6; stopped before the optimizer step.*Last good checkpoint: .*step-000004"):
        pretrain(load_recipe(recipe, [f"output_dir={out}", "train.save_every=1"]))
    assert checkpoint.latest_checkpoint(out).name == "step-000004"
    assert (out / "checkpoints" / "non-finite-step-000005").is_dir()
