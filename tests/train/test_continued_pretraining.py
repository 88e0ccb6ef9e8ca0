"""Domain-adaptive continued pretraining (Gururangan et al. 2020) from a real checkpoint lowers held-out domain loss."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

from mlmkit.config import load_recipe
from mlmkit.data.tokenizer import load_mlm_tokenizer
from mlmkit.eval.held_out import score_model
from mlmkit.train import pretrain
from mlmkit.train.setup import build_masked_lm


def test_minilm_continued_with_whole_word_masking_on_biomedical_text(minilm_path: Path, shared_data: Path, tmp_path: Path) -> None:
    """50 steps of whole-word masking on BC5CDR abstracts from the pretrained MiniLM folder. The held-out loss is
    the loop's own periodic measure (metrics.jsonl eval_loss); before training it is that measure of the model the
    run starts from: MiniLM's body and embeddings, and the MLM transform the folder lacks, drawn from the run's seed."""
    from datasets import load_from_disk

    from mlmkit.data.pipeline import prepare_dataset

    lines = (shared_data / "domain" / "bc5cdr" / "bc5cdr_abstracts.txt").read_text(encoding="utf-8").splitlines()
    text = tmp_path / "bc5cdr.txt"
    text.write_text("\n".join(lines[:600]) + "\n", encoding="utf-8")  # 200 abstracts with their titles
    tokenizer = load_mlm_tokenizer(minilm_path)
    blocks = tmp_path / "blocks"
    prepare_dataset(tokenizer, seq_len=64, out_dir=blocks, corpus_files=[text], validation_fraction=0.1)
    recipe = {
        "data": {"path": str(blocks), "seq_len": 64, "max_eval_blocks": 32},
        "model": {"path": str(minilm_path)},
        "collator": {"name": "whole_word", "options": {"mlm_probability": 0.15}},
        "train": {"max_steps": 50, "batch_size": 4, "lr": 2e-4, "warmup_steps": 5, "eval_every": 25, "eval_batch_size": 32,
                  "save_every": 1000, "log_every": 10, "seed": 0},
        "output_dir": str(tmp_path / "run"),
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    config = load_recipe(tmp_path / "recipe.yaml")

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.train.seed)  # as pretrain() seeds before building the model
        start = build_masked_lm(config, tokenizer)
    validation = load_from_disk(str(blocks))["validation"]
    held_out = validation.select(range(min(32, len(validation))))  # the loop's data.max_eval_blocks
    before = score_model(start, tokenizer, held_out)[0]["eval_loss"]

    pretrain(config)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = {row["step"]: row["eval_loss"] for row in rows if "eval_loss" in row}
    assert sorted(losses) == [25, 50]
    # Measured: 10.74 before, 7.36 at step 25, 7.25 at step 50 (most of the drop is the new transform
    # learning; held-out accuracy is still below the unigram baseline after 50 steps of 4 x 64 tokens).
    assert max(losses.values()) < before - 1.0, (before, losses)
