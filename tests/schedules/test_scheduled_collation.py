"""Scheduled masking rates reach the collator wherever it runs: DataLoader workers and transformers.Trainer."""

import math

import torch
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, Trainer, TrainingArguments

import mlmkit
from mlmkit.schedules import build_schedule

LINEAR = {"name": "linear", "start": 0.30, "end": 0.15}


def _features(tokenizer, rows=16, words=120):
    text = " ".join(f"word{i % 50} is here" for i in range(words))
    ids = tokenizer(text, truncation=True, max_length=128)["input_ids"]
    return [{"input_ids": ids} for _ in range(rows)]


def test_dataloader_workers_follow_the_schedule_without_lag(minilm_path):
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    features = _features(tokenizer, rows=8 * 20)
    collator = mlmkit.build_collator("random", tokenizer, schedule=LINEAR, seed=3)
    collator.set_total_batches(20)
    schedule = build_schedule(LINEAR)
    maskable = len(features[0]["input_ids"]) - 2  # [CLS] and [SEP] are never masked
    realised = {}
    for workers in (0, 2):
        collator.set_epoch(0)  # workers copy the collator when the iterator starts
        loader = torch.utils.data.DataLoader(features, batch_size=8, collate_fn=collator, num_workers=workers)
        realised[workers] = [(batch["labels"] != -100).sum().item() / (8 * maskable) for batch in loader]
    assert realised[0] == realised[2]
    for index, rate in enumerate(realised[0]):
        # Budgets are exact per row: round(rate * maskable) / maskable.
        assert math.isclose(rate, round(schedule(index / 19) * maskable) / maskable, abs_tol=1e-9)


def test_trainer_logs_a_decreasing_rate_from_30_to_15(minilm_path, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    collator = mlmkit.build_collator("whole_word", tokenizer, schedule=LINEAR, seed=0)
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=10, per_device_train_batch_size=4,
                             logging_steps=1, report_to=[], save_strategy="no", use_cpu=True)
    trainer = Trainer(model=BertForMaskedLM(config), args=args, train_dataset=_features(tokenizer, rows=12),
                      data_collator=collator, callbacks=[mlmkit.MaskingScheduleCallback(collator)])
    trainer.train()
    rates = [row["masking_rate"] for row in trainer.state.log_history if "loss" in row]
    assert len(rates) == 10
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert math.isclose(rates[0], 0.30, abs_tol=1e-6) and math.isclose(rates[-1], 0.15, abs_tol=1e-6)
