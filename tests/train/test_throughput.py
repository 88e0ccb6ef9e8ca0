"""Throughput in metrics.jsonl: model FLOPs per token counted once, MFU against the device's peak; compiled
steps and document attention in the loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mlmkit.config import load_recipe
from mlmkit.errors import MlmkitError
from mlmkit.train import pretrain
from mlmkit.train.objectives import MaskedLMModule
from mlmkit.train.throughput import peak_tflops_of


def train_rows(out: Path) -> list[dict]:
    return [row for row in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "loss" in row]


def test_metrics_report_the_counted_model_flops_and_mfu(write_recipe, tmp_path: Path) -> None:
    """With the dense head and eager attention every counted FLOP has a closed form: per real token, 3x the
    forward's 8H² + 4HI (projections) + 4TH (attention) per layer, plus 2H² + 2HV for the head."""
    out = tmp_path / "run"
    recipe = write_recipe(out, max_steps=3, eval_every=100, save_every=100, sparse_head=False, peak_tflops=0.002)
    result = pretrain(load_recipe(recipe, ["model.attn_implementation=eager"]))
    shape = result.model.config
    hidden, inner, layers, vocab, length = shape.hidden_size, shape.intermediate_size, shape.num_hidden_layers, shape.vocab_size, 32
    forward = layers * (8 * hidden**2 + 4 * hidden * inner + 4 * length * hidden) + 2 * hidden**2 + 2 * hidden * vocab
    rows = train_rows(out)
    assert len(rows) == 3 and len({row["flops_per_token"] for row in rows}) == 1  # counted once
    assert rows[0]["flops_per_token"] == pytest.approx(3 * forward, rel=0.02)
    for row in rows:
        assert row["mfu"] == pytest.approx(row["flops_per_token"] * row["tokens_per_s"] / 2e9)


def test_mfu_stays_empty_without_a_peak_on_a_cpu(write_recipe, tmp_path: Path) -> None:
    out = tmp_path / "run"
    pretrain(load_recipe(write_recipe(out, max_steps=2, eval_every=100, save_every=100)))
    assert all(row["mfu"] is None and row["flops_per_token"] > 0 for row in train_rows(out))


def test_the_peak_table_knows_the_accelerators_by_name() -> None:
    assert peak_tflops_of("NVIDIA H100 80GB HBM3") == 989.0
    assert peak_tflops_of("NVIDIA H100 PCIe") == 756.0
    assert peak_tflops_of("NVIDIA H200") == 989.0
    assert peak_tflops_of("NVIDIA A100-SXM4-80GB") == peak_tflops_of("NVIDIA A100 80GB PCIe") == 312.0
    assert peak_tflops_of("Tesla V100-SXM2-16GB") is None


def test_peak_tflops_must_be_positive(write_recipe, tmp_path: Path) -> None:
    with pytest.raises(MlmkitError, match=r"train.peak_tflops=0.0 is out of range"):
        load_recipe(write_recipe(tmp_path / "run", peak_tflops=0))


@pytest.fixture(scope="module")
def sentence_blocks(trained_tokenizers: dict[str, Path], small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Blocks of 32 tokens packed from one-sentence documents: most blocks hold a document boundary."""
    from mlmkit.data.pipeline import prepare_dataset
    from mlmkit.data.tokenizer import load_mlm_tokenizer

    sentences = [part.strip() + " ." for part in small_corpus.read_text(encoding="utf-8").split(" . ") if part.strip()]
    corpus = tmp_path_factory.mktemp("sentences") / "sentences.txt"
    corpus.write_text("\n".join(sentences[:1500]) + "\n", encoding="utf-8")
    out = corpus.parent / "blocks"
    tokenizer = load_mlm_tokenizer(trained_tokenizers["wordpiece"])
    prepare_dataset(tokenizer, seq_len=32, out_dir=out, corpus_files=[corpus], corpus_format="line", validation_fraction=0.1)
    return out


def test_a_compiled_run_with_document_attention_trains_as_the_eager_one(write_recipe, sentence_blocks: Path, tmp_path: Path, monkeypatch) -> None:
    """train.compile compiles the step's core once (here with dynamo's plain backend: the same arithmetic),
    and the run's losses are the eager run's; keeping documents apart changes them."""
    compiled = []
    real_compile = torch.compile

    def compile_eagerly(function, **options):
        compiled.append(function)
        return real_compile(function, backend="eager")

    losses = {}
    for name, overrides in {"block": [], "compiled": ["train.compile=true"], "across": ["data.document_attention=none"]}.items():
        monkeypatch.setattr(torch, "compile", compile_eagerly)
        out = tmp_path / name
        recipe = write_recipe(out, max_steps=3, eval_every=3, save_every=100)
        pretrain(load_recipe(recipe, [f"data.path={sentence_blocks}", "data.document_attention=block", *overrides]))
        losses[name] = [row["loss"] for row in train_rows(out)]
    assert [function.__func__ for function in compiled] == [MaskedLMModule.compute]
    assert losses["compiled"] == pytest.approx(losses["block"], rel=1e-6)
    assert losses["across"] != pytest.approx(losses["block"], rel=1e-6, abs=0)
