"""MASS through the one pretraining loop: loss falls on the embedded corpus; the checkpoint loads and generates."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from mlmkit.config import load_recipe
from mlmkit.recipes import recipe_path
from mlmkit.train.loop import pretrain
from mlmkit.train.metrics import read_metrics

RECIPE = recipe_path("mass-tiny")


def test_mass_tiny_loss_falls_and_checkpoint_generates(tmp_path):
    overrides = [
        "train.max_steps=20", "train.batch_size=16", "train.log_every=5", "train.eval_every=10",
        "train.save_every=20", "train.warmup_ratio=0.1", "tokenizer.vocab_size=2000", f"output_dir={tmp_path}",
    ]  # fmt: skip
    final = pretrain(load_recipe(RECIPE, overrides)).final_dir
    rows = read_metrics(tmp_path / "metrics.jsonl")
    losses = [row["loss"] for row in rows if "loss" in row]
    evals = [row["eval_loss"] for row in rows if "eval_loss" in row]
    assert len(losses) == 4 and len(evals) == 2
    # From about ln(2000) = 7.6 at initialisation; each row averages 5 batches (about 2,500 targets),
    # whose noise is a few hundredths of a nat, so a fall of 0.4 nat is not luck.
    assert losses[-1] < losses[0] - 0.4, losses
    assert evals[-1] < evals[0], evals
    # Realised share of maskable tokens predicted: k = round(0.5 x span) per 64-token block.
    rates = [row["masking_rate"] for row in rows if "masking_rate" in row]
    assert all(0.4 < rate < 0.6 for rate in rates), rates

    model = AutoModelForSeq2SeqLM.from_pretrained(final, local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(final, local_files_only=True)
    assert type(model).__name__ == "BartForConditionalGeneration"
    inputs = tokenizer(["the game was released in japan"], return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    assert generated.shape[1] <= 7 and generated[0, 0] == model.config.decoder_start_token_id
