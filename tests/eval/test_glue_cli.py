"""`mlmkit glue` end to end on a tiny random BERT, and its errors for bad input."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from mlmkit.cli import main


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, minilm_path: Path) -> Path:
    """A 2-layer, hidden-32 random BERT saved with the real MiniLM WordPiece tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny_bert")
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(str(minilm_path)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def small_glue(tmp_path_factory, shared_data: Path) -> Path:
    """RTE and STS-B as shipped; MNLI with its train sample standing in for both dev files;
    QNLI without a train file; the other tasks absent."""
    folder = tmp_path_factory.mktemp("glue")
    glue = shared_data / "glue"
    for task in ("RTE", "STS-B", "QNLI"):
        (folder / task).symlink_to(glue / task)
    (folder / "MNLI").mkdir()
    for name in ("train.tsv", "dev_matched.tsv", "dev_mismatched.tsv"):
        shutil.copy(glue / "MNLI" / "train.sample.tsv", folder / "MNLI" / name)
    return folder


def test_glue_all_end_to_end(tiny_bert, small_glue, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        "glue", "--model", str(tiny_bert), "--task", "all", "--data-dir", str(small_glue),
        "--max-train-samples", "64", "--max-eval-samples", "64", "--epochs", "1", "--seeds", "1,2", "--out", str(out),
    ]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())

    assert set(results["results"]) == {"mnli_m", "mnli_mm", "stsb", "rte"}
    assert set(results["results"]["stsb"]) == {"pearson", "spearmanr"}
    assert set(results["per_seed"]["rte"]) == {"1", "2"}
    assert results["glue_score_tasks"] == ["stsb", "mnli", "rte"] and results["complete"] is False
    assert set(results["skipped"]) == {"cola", "sst2", "mrpc", "qqp", "qnli", "wnli"}
    assert "QNLI/train.tsv" in results["skipped"]["qnli"]
    accuracy = results["results"]["rte"]["accuracy"]
    assert 0.0 <= accuracy <= 1.0
    assert results["details"]["rte"]["train_rows"] == 64 and results["details"]["rte"]["eval_rows"] == {"rte": 64}
    medians = [results["results"][name]["accuracy"] for name in ("mnli_m", "mnli_mm")]
    assert results["task_scores"]["mnli"] == pytest.approx(sum(medians) / 2)
    scores = results["task_scores"]
    assert results["glue_score"] == pytest.approx(sum(scores.values()) / 3)
    assert all(math.isfinite(value) for value in scores.values())

    printed = capsys.readouterr().out
    table = (out / "results.md").read_text()
    assert table in printed
    assert "| rte | accuracy |" in table and "| seed 1 | seed 2 | median |" in table
    assert "skipped qnli:" in table and "partial" in table


@pytest.mark.parametrize(
    "remove, message",
    [
        ("config.json", "is not a model checkpoint: it has no config.json"),
        ("tokenizer.json", "no tokenizer in"),
    ],
)
def test_bad_model_folder_is_one_line_error(tiny_bert, small_glue, tmp_path, capsys, remove, message):
    broken = tmp_path / "model"
    shutil.copytree(tiny_bert, broken)
    (broken / remove).unlink()
    argv = ["glue", "--model", str(broken), "--task", "rte", "--data-dir", str(small_glue), "--out", str(tmp_path)]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_named_task_without_dev_file_fails_before_training(tiny_bert, small_glue, tmp_path, capsys):
    argv = ["glue", "--model", str(tiny_bert), "--task", "rte,qnli", "--data-dir", str(small_glue)]
    argv += ["--out", str(tmp_path)]
    assert main(argv) == 2
    assert "qnli: no training file: expected" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "no GLUE data for rte: mlmkit ships only an SST-2 sample; pass --data-dir"),
        (["--data-dir", "d", "--epochs", "0"], "--epochs 0.0: must be positive"),
        (["--data-dir", "d", "--task", "rte,squad"], "unknown task(s) ['squad']"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, capsys, extra, message):
    argv = ["glue", "--model", str(tmp_path), "--task", "rte", "--out", str(tmp_path), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_seeds_are_rejected_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["glue", "--model", str(tmp_path), "--task", "rte", "--out", str(tmp_path), "--seeds", "1,x"])
    assert "expected integers separated by commas" in capsys.readouterr().err


def test_sst2_runs_on_the_shipped_sample_without_data_dir(tiny_bert, tmp_path, capsys):
    argv = ["glue", "--model", str(tiny_bert), "--task", "sst2", "--out", str(tmp_path), "--epochs", "0.1",
            "--max-train-samples", "32", "--max-eval-samples", "16"]
    assert main(argv) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["details"]["sst2"]["train_rows"] == 32 and results["details"]["sst2"]["eval_rows"] == {"sst2": 16}
    assert len(results["details"]["sst2"]["predictions"]["sst2"]["1"]) == 16


def test_default_lr_follows_model_width():
    """BERT's 2e-5 leaves tiny models at the majority class; an explicit --lr always wins."""
    from mlmkit.eval.glue.run import GlueOptions, default_lr, resolve_hparams
    from mlmkit.eval.glue.tasks import TASKS

    assert [default_lr(width, 2e-5) for width in (128, 256, 512, 768, None)] == [1e-3, 1e-4, 1e-4, 2e-5, 2e-5]
    assert resolve_hparams(TASKS["sst2"], GlueOptions(), hidden_size=128).lr == 1e-3
    assert resolve_hparams(TASKS["sst2"], GlueOptions(lr=5e-5), hidden_size=128).lr == 5e-5
