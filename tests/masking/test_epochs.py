"""Dynamic masking across epochs, wherever the collator runs: a plain DataLoader with any num_workers and
transformers.Trainer with workers and no callback; masks replay on a rerun and on resume; a scheduled
rate is never moved by evaluation batches (issue 18, faults 1 and 2)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader
from transformers import BertConfig, BertForMaskedLM, Trainer, TrainingArguments

import mlmkit
from mlmkit.schedules import build_schedule


def _rows(tokenizer, count: int, words: int = 12) -> list[dict]:
    """Distinct rows of real words (each row its own text)."""
    vocabulary = [w for w in ("the river city house north music game album film war team season ship song "
                              "early later small great world people church station").split()]
    rows = []
    for i in range(count):
        text = " ".join(vocabulary[(i * 7 + j * 3) % len(vocabulary)] for j in range(words)) + f" {i}"
        rows.append({"input_ids": tokenizer(text)["input_ids"]})
    return rows


def _epoch_labels(loader) -> list[torch.Tensor]:
    return [batch["labels"] for batch in loader]


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("name", ["random", "whole_word"])
def test_plain_dataloader_masks_differ_between_epochs(name, num_workers, minilm_tokenizer):
    """Fault 1: DataLoader(data, batch_size=4, num_workers=2, collate_fn=build_collator(..., seed=3)) gave the
    same labels every epoch; now every epoch differs, for 0 and 2 workers alike, and a rerun repeats them."""
    data = _rows(minilm_tokenizer, 16)

    def epochs(workers: int) -> list[list[torch.Tensor]]:
        collator = mlmkit.build_collator(name, minilm_tokenizer, seed=3)
        loader = DataLoader(data, batch_size=4, num_workers=workers, collate_fn=collator)
        return [_epoch_labels(loader) for _ in range(3)]

    first = epochs(num_workers)
    for a, b in ((0, 1), (1, 2), (0, 2)):
        differing = sum(not torch.equal(x, y) for x, y in zip(first[a], first[b]))
        assert differing == len(first[a]), (a, b)
    again = epochs(num_workers)
    assert all(torch.equal(x, y) for epoch, other in zip(first, again) for x, y in zip(epoch, other))
    other_workers = epochs(2 - num_workers)
    assert all(torch.equal(x, y) for epoch, other in zip(first, other_workers) for x, y in zip(epoch, other))


def test_dataloader_with_persistent_workers_differs_between_epochs(minilm_tokenizer):
    """Another input of the kind: persistent workers keep one copy of the collator for all epochs."""
    data = _rows(minilm_tokenizer, 16)
    collator = mlmkit.build_collator("span", minilm_tokenizer, seed=5)
    loader = DataLoader(data, batch_size=4, num_workers=2, collate_fn=collator, persistent_workers=True)
    epochs = [_epoch_labels(loader) for _ in range(2)]
    assert not any(torch.equal(x, y) for x, y in zip(*epochs))


def _tiny_model(tokenizer) -> BertForMaskedLM:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    return BertForMaskedLM(config)


class RecordingTrainer(Trainer):
    """Records, per optimizer step, each row's original ids and labels (what the collator chose)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.masks: list[tuple[int, tuple, tuple]] = []

    def training_step(self, model, inputs, num_items_in_batch=None):
        labels = inputs["labels"].cpu()
        original = torch.where(labels != -100, labels, inputs["input_ids"].cpu())
        for row, row_labels in zip(original.tolist(), labels.tolist()):
            self.masks.append((self.state.global_step, tuple(row), tuple(row_labels)))
        return super().training_step(model, inputs, num_items_in_batch)


def _train(tokenizer, data, out, resume=None, save_steps=None):
    from datasets import Dataset

    args = TrainingArguments(
        output_dir=str(out), num_train_epochs=3, per_device_train_batch_size=4, dataloader_num_workers=2,
        report_to=[], use_cpu=True, seed=7, logging_steps=100, save_strategy="steps" if save_steps else "no",
        save_steps=save_steps or 500, disable_tqdm=True,
    )
    collator = mlmkit.build_collator("whole_word", tokenizer, seed=11)
    trainer = RecordingTrainer(model=_tiny_model(tokenizer), args=args, train_dataset=Dataset.from_list(data),
                               data_collator=collator)
    trainer.train(resume_from_checkpoint=resume)
    return trainer.masks


def test_trainer_with_workers_masks_differ_per_epoch_repeat_on_rerun_and_replay_on_resume(minilm_tokenizer, tmp_path):
    """Acceptance: tiny model, 3 epochs, dataloader_num_workers=2, default remove_unused_columns, no callback."""
    data = [dict(row, word_ids=list(range(len(row["input_ids"])))) for row in _rows(minilm_tokenizer, 16)]
    masks = _train(minilm_tokenizer, data, tmp_path / "a", save_steps=6)
    assert len(masks) == 3 * 16
    per_epoch = [{row: labels for _, row, labels in masks[e * 16 : (e + 1) * 16]} for e in range(3)]
    assert all(set(epoch) == set(per_epoch[0]) for epoch in per_epoch)  # every row once per epoch
    for a, b in ((0, 1), (1, 2)):
        assert sum(per_epoch[a][row] != per_epoch[b][row] for row in per_epoch[a]) >= 14
    assert _train(minilm_tokenizer, data, tmp_path / "b") == masks
    resumed = _train(minilm_tokenizer, data, tmp_path / "a", resume=str(tmp_path / "a" / "checkpoint-6"))
    assert resumed == [record for record in masks if record[0] >= 6]


def _rate_run(tokenizer, tmp_path, gradient_accumulation_steps: int):
    """Linear 0.5 -> 0.1 over 8 steps with evaluation every 2 steps, batches collated in the main process."""
    from datasets import Dataset

    schedule = {"name": "linear", "start": 0.5, "end": 0.1}
    collator = mlmkit.build_collator("random", tokenizer, schedule=schedule, seed=0)
    train_rows, eval_rows = _rows(tokenizer, 16 * gradient_accumulation_steps), _rows(tokenizer, 8, words=9)
    eval_keys = {tuple(row["input_ids"]) for row in eval_rows}
    applied = []

    def recording(features):
        batch = collator(features)
        if tuple(features[0]["input_ids"]) not in eval_keys:
            applied.append(collator.current_rate())
        return batch

    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=8, per_device_train_batch_size=2, per_device_eval_batch_size=4,
        gradient_accumulation_steps=gradient_accumulation_steps, eval_strategy="steps", eval_steps=2,
        logging_steps=1, report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True,
    )
    trainer = Trainer(model=_tiny_model(tokenizer), args=args, train_dataset=Dataset.from_list(train_rows),
                      eval_dataset=Dataset.from_list(eval_rows), data_collator=recording,
                      callbacks=[mlmkit.MaskingScheduleCallback(collator)])
    trainer.train()
    logged = [row["masking_rate"] for row in trainer.state.log_history if "loss" in row]
    return applied, logged, build_schedule(schedule)


@pytest.mark.parametrize("gradient_accumulation_steps", [1, 2])
def test_evaluation_never_advances_a_rate_schedule_and_the_log_shows_the_applied_rate(gradient_accumulation_steps, minilm_tokenizer, tmp_path):
    """Fault 2: evaluation batches moved the training counter (0.1 reached by step 4; logged 0.157 at step 7
    while 0.1 was applied). Now the applied rates follow the schedule over the 8 steps and the log shows them."""
    applied, logged, schedule = _rate_run(minilm_tokenizer, tmp_path, gradient_accumulation_steps)
    total = 8 * gradient_accumulation_steps
    assert len(applied) == total
    for index, rate in enumerate(applied):
        assert math.isclose(rate, schedule(index / (total - 1)), abs_tol=1e-9), (index, rate)
    assert len(logged) == 8
    for step, rate in enumerate(logged, start=1):
        assert math.isclose(rate, round(applied[step * gradient_accumulation_steps - 1], 6), abs_tol=1e-9), (step, rate)
