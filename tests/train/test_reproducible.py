"""Same recipe, same run: the tokenizer trains to the same bytes, and a whole run from scratch (tokenizer
training included) logs the same losses."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlmkit.config import load_recipe
from mlmkit.train import pretrain
from mlmkit.train.metrics import read_metrics

RECIPE = "tiny-cpu"  # a shipped recipe, by name


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_tokenizer_training_gives_the_same_bytes(kind, small_corpus, tmp_path) -> None:
    from mlmkit.data.tokenizer import train_tokenizer

    saved = []
    for attempt in range(3):
        out = tmp_path / f"tok{attempt}"
        train_tokenizer([small_corpus], kind, 1500, out, lowercase=kind == "wordpiece", show_progress=False)
        saved.append((out / "tokenizer.json").read_bytes())
    assert saved[0] == saved[1] == saved[2]


def test_the_tiny_recipe_twice_from_scratch_logs_the_same_losses(small_corpus, tmp_path) -> None:
    overrides = [
        f"data.corpus=[{small_corpus}]", "tokenizer.vocab_size=1500", "data.seq_len=32", "train.max_steps=6",
        "train.batch_size=8", "train.log_every=1", "train.eval_every=6", "train.save_every=6", "data.max_eval_blocks=16",
        "model.config={hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64}",
    ]  # fmt: skip
    losses, vocabularies = [], []
    for name in ("first", "second"):
        out = tmp_path / name
        pretrain(load_recipe(RECIPE, [*overrides, f"output_dir={out}"]))
        losses.append([(row["step"], row.get("loss"), row.get("eval_loss")) for row in read_metrics(out / "metrics.jsonl")])
        vocabularies.append((out / "tokenizer" / "tokenizer.json").read_bytes())
    assert vocabularies[0] == vocabularies[1]
    assert losses[0] == losses[1] and len(losses[0]) == 7
