"""End to end: `mlmkit squad` fine-tunes a tiny random BERT and writes official-format outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlmkit.cli import main
from mlmkit.eval.squad.data import read_squad, split_by_article

FAST = ["--max-train-samples", "24", "--epochs", "1", "--batch-size", "8", "--max-length", "128", "--doc-stride", "32"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    """A random 2-layer BERT with MiniLM's real WordPiece vocabulary, saved with its tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForQuestionAnswering

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path), local_files_only=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=512,
    )  # fmt: skip
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-bert")
    BertForQuestionAnswering(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_squad_v11_end_to_end(tiny_model: Path, shared_data: Path, tmp_path: Path, capsys) -> None:
    data = shared_data / "squad" / "dev-v1.1.articles-00-23.json"
    args = ["squad", "--model", str(tiny_model), "--version", "1.1", "--train", str(data)]
    args += ["--split-by-article", "0.1", "--max-eval-samples", "30", "--out", str(tmp_path), *FAST]
    assert main(args) == 0
    predictions = json.loads((tmp_path / "predictions.json").read_text())
    results = json.loads((tmp_path / "results.json").read_text())
    train, dev = split_by_article(read_squad(data).examples, 0.1)
    assert set(predictions) == {e.id for e in dev[:30]} and all(isinstance(t, str) for t in predictions.values())
    assert not {e.title for e in train} & {e.title for e in dev}
    assert set(results) >= {"exact_match", "f1"} and 0.0 <= results["exact_match"] <= results["f1"] <= 100.0
    assert "exact_match" in capsys.readouterr().out


def test_squad_v20_end_to_end(tiny_model: Path, shared_data: Path, tmp_path: Path) -> None:
    data = shared_data / "squad" / "dev-v2.0.sample.json"
    args = ["squad", "--model", str(tiny_model), "--version", "2.0", "--train", str(data), "--dev", str(data)]
    args += ["--max-eval-samples", "40", "--out", str(tmp_path), *FAST]
    assert main(args) == 0
    dev = read_squad(data).examples[:40]
    predictions = json.loads((tmp_path / "predictions.json").read_text())
    null_odds = json.loads((tmp_path / "null_odds.json").read_text())
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(predictions) == set(null_odds) == {e.id for e in dev}
    assert all((text == "") == (null_odds[qid] > 0.0) for qid, text in predictions.items())
    assert results["HasAns_total"] + results["NoAns_total"] == 40 and results["NoAns_total"] > 0
    for name in ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1", "best_f1", "best_f1_thresh"):
        assert name in results
    assert results["best_f1"] >= results["f1"] - 1e-9  # the tuned threshold is at least as good on dev


def test_squad_cli_errors_are_one_line(tmp_path: Path, shared_data: Path, tiny_model: Path, capsys) -> None:
    v2 = str(shared_data / "squad" / "dev-v2.0.sample.json")
    common = ["--train", v2, "--dev", v2, "--out", str(tmp_path)]
    assert main(["squad", "--model", str(tmp_path), "--version", "2.0", *common]) == 2
    assert "is not a model checkpoint" in capsys.readouterr().err
    assert main(["squad", "--model", str(tiny_model), "--version", "1.1", *common]) == 2
    assert "pass --version 2.0" in capsys.readouterr().err
