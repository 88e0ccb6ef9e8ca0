"""`mlmkit pretrain` with model.late_mask: the 3ML model trains in the one loop, saves an encoder, resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from mlmkit.config import load_recipe
from mlmkit.errors import MlmkitError
from mlmkit.models.late_mask import LateMaskForMaskedLM
from mlmkit.recipes import recipes_folder
from mlmkit.train import pretrain

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
RECIPES = recipes_folder()


@pytest.fixture(scope="module")
def blocks(trained_tokenizers, small_corpus, tmp_path_factory) -> Path:
    from mlmkit.data.pipeline import prepare_dataset
    from mlmkit.data.tokenizer import load_mlm_tokenizer

    out = tmp_path_factory.mktemp("late_blocks") / "wiki32"
    tokenizer = load_mlm_tokenizer(trained_tokenizers["bpe"])
    prepare_dataset(tokenizer, seq_len=32, out_dir=out, corpus_files=[small_corpus], validation_fraction=0.1)
    return out


def recipe(tmp_path: Path, tokenizer: Path, blocks: Path, **model: object) -> Path:
    tree = {
        "tokenizer": {"path": str(tokenizer)},
        "data": {"path": str(blocks), "seq_len": 32, "max_eval_blocks": 16},
        "model": {"family": "roberta", "size": "tiny", "config": TINY, "late_mask": {"late_layers": 1}, **model},
        "collator": {"name": "random", "options": {"mlm_probability": 0.5, "mask_replace_prob": 1.0,
                                                   "random_replace_prob": 0.0, "output": "late_mask"}},
        "train": {"max_steps": 4, "batch_size": 8, "lr": 1e-3, "warmup_steps": 1, "log_every": 1, "eval_every": 4,
                  "eval_batch_size": 16, "save_every": 4, "seed": 3},
        "output_dir": str(tmp_path / "run"),
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path


def test_pretrain_late_mask_roberta_saves_encoder_and_continues(tmp_path, trained_tokenizers, blocks) -> None:
    from transformers import AutoModelForSequenceClassification

    result = pretrain(load_recipe(recipe(tmp_path, trained_tokenizers["bpe"], blocks)))
    assert isinstance(result.model, LateMaskForMaskedLM) and result.step == 4
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train_rows = [row for row in rows if "loss" in row]
    assert train_rows[-1]["tokens_seen"] == 4 * 8 * 32  # the late [MASK] slots count as tokens seen
    assert all(0.45 < row["masking_rate"] < 0.55 for row in train_rows)  # round(0.5 × 30 maskable) = 15
    (evaluation,) = [row for row in rows if "eval_loss" in row]
    assert evaluation["eval_tokens"] > 0 and 0.0 <= evaluation["eval_accuracy"] <= 1.0

    classifier = AutoModelForSequenceClassification.from_pretrained(result.final_dir, num_labels=2, local_files_only=True)
    assert classifier.config.num_hidden_layers == 1  # the late layer is dropped for fine-tuning
    trained = result.model.mlm.roberta.state_dict()
    torch.testing.assert_close(classifier.roberta.encoder.layer[0].output.dense.weight, trained["encoder.layer.0.output.dense.weight"])

    continued = recipe(tmp_path, trained_tokenizers["bpe"], blocks, path=str(result.final_dir))
    again = pretrain(load_recipe(continued, ["train.max_steps=1", f"output_dir={tmp_path / 'again'}"]))
    assert isinstance(again.model, LateMaskForMaskedLM)


def test_late_mask_model_and_collator_output_go_together(tmp_path, trained_tokenizers, blocks) -> None:
    path = recipe(tmp_path, trained_tokenizers["bpe"], blocks)
    with pytest.raises(MlmkitError, match="model.late_mask needs collator.options.output=late_mask"):
        load_recipe(path, ["collator.options.output=mlm"])
    with pytest.raises(MlmkitError, match="output=late_mask needs a late-mask model"):
        load_recipe(path, ["model.late_mask=null"])
    with pytest.raises(MlmkitError, match=r"variant='decoder', must be one of \['self', 'cross'\]"):
        load_recipe(path, ["model.late_mask.variant=decoder"])


@pytest.mark.parametrize("name", ["3ml-tiny-cpu.yaml", "3ml-roberta-base.yaml"])
def test_3ml_recipes_load(name: str) -> None:
    config = load_recipe(RECIPES / name)
    assert config.model.late_mask is not None and config.collator.options["mlm_probability"] == 0.5
