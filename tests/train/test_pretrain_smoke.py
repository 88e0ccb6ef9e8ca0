"""End-to-end: a few steps of the real loop on real text, saved, reloaded, compared."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mlmkit.config import load_recipe
from mlmkit.train import pretrain


def test_smoke_pretrain_saves_a_loadable_model(write_recipe, tmp_path: Path) -> None:
    from safetensors.torch import load_file
    from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

    out = tmp_path / "run"
    result = pretrain(load_recipe(write_recipe(out)))

    assert result.step == 8 and result.final_dir == out / "final"
    reloaded = AutoModelForMaskedLM.from_pretrained(result.final_dir, local_files_only=True)
    trained = result.model.state_dict()
    for name, value in reloaded.state_dict().items():
        torch.testing.assert_close(value, trained[name], rtol=0, atol=0, msg=name)
    # The last checkpoint holds the same weights, in both its HF folder and its Accelerate state.
    last = out / "checkpoints" / "step-000008"
    state = load_file(last / "state" / "model.safetensors")
    for name, value in state.items():
        torch.testing.assert_close(value, trained[name.removeprefix("model.")], rtol=0, atol=0, msg=name)
    classifier = AutoModelForSequenceClassification.from_pretrained(last / "model", num_labels=3, local_files_only=True)
    torch.testing.assert_close(classifier.bert.embeddings.word_embeddings.weight, trained["bert.embeddings.word_embeddings.weight"])
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000004", "step-000008"]
    assert json.loads((last / "trainer_state.json").read_text())["step"] == 8


def test_metrics_rows_have_the_documented_fields(write_recipe, tmp_path: Path) -> None:
    out = tmp_path / "run"
    pretrain(load_recipe(write_recipe(out, max_steps=4, save_every=100)))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_rows = [row for row in rows if "loss" in row]
    eval_rows = [row for row in rows if "eval_loss" in row]
    assert [row["step"] for row in train_rows] == [1, 2, 3, 4]
    for row in train_rows:
        assert {"step", "loss", "lr", "masking_rate", "tokens_seen", "tokens_per_s"} <= set(row)
        # mlm_probability 0.15 with a per-row budget round(0.15 * 30 maskable) = 4 or 5 of 30.
        assert 0.10 < row["masking_rate"] < 0.20
    assert train_rows[-1]["tokens_seen"] == 4 * 8 * 32
    assert [row["lr"] for row in train_rows] == [0.0, 0.5e-3, 1e-3, 0.5e-3]  # transformers linear: 2 warm-up steps from 0
    (final,) = eval_rows
    assert final["step"] == 4 and 0.0 <= final["eval_accuracy"] <= 1.0 and final["eval_tokens"] > 0
    assert (out / "config.yaml").is_file() and (out / "final" / "config.json").is_file()


def test_evaluation_and_checkpoints_do_not_count_as_training_seconds(write_recipe, tmp_path: Path, monkeypatch) -> None:
    import time

    from mlmkit.eval import held_out
    from mlmkit.train import checkpoint

    def slow(work):
        def wrapped(*args, **kwargs):
            time.sleep(1.0)
            return work(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(held_out, "score_blocks", slow(held_out.score_blocks))
    monkeypatch.setattr(checkpoint, "save_checkpoint", slow(checkpoint.save_checkpoint))
    out = tmp_path / "run"
    started = time.perf_counter()
    pretrain(load_recipe(write_recipe(out, max_steps=8, eval_every=2, save_every=2)))
    elapsed = time.perf_counter() - started
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # 4 evaluations and 4 checkpoints slept 8 s in all; none of it is training time.
    assert elapsed > 8.0 and rows[-1]["seconds"] < elapsed - 7.5
    assert all(row["tokens_per_s"] > 8 * 32 / 1.0 for row in rows if "loss" in row)


def test_a_recipe_can_train_its_tokenizer_and_prepare_its_data(small_corpus: Path, tmp_path: Path) -> None:
    from mlmkit.config import config_from_dict

    out = tmp_path / "run"
    config = config_from_dict({
        "tokenizer": {"kind": "bpe", "vocab_size": 600},
        "data": {"corpus": [str(small_corpus)], "seq_len": 32, "eval_fraction": 0.1, "max_eval_blocks": 16},
        "model": {"family": "roberta", "size": "tiny", "config": {"num_hidden_layers": 1}},
        "train": {"max_steps": 2, "batch_size": 4, "eval_every": 2, "save_every": 2},
        "output_dir": str(out),
    })
    result = pretrain(config)
    assert result.step == 2 and len(result.model.get_input_embeddings().weight) == 600
    assert (out / "tokenizer" / "tokenizer.json").is_file() and (out / "data").is_dir()
    assert (out / "final" / "tokenizer.json").is_file() and result.eval["eval_tokens"] > 0
