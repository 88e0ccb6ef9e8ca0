"""The four informed collators where users put them: transformers.Trainer and DataLoader workers."""

from __future__ import annotations

import pytest
import torch

from mlmkit import build_collator

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NAMES = ["pmi", "informask", "rom", "difference"]


def test_trainer_three_steps_each(minilm_tokenizer, wiki_features, informed_stats, tmp_path):
    """Trainer drops word_ids (default remove_unused_columns=True): words come from the vocabulary; 3 steps run."""
    from datasets import Dataset
    from transformers import BertConfig, BertForMaskedLM, Trainer, TrainingArguments

    config = BertConfig(
        vocab_size=len(minilm_tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )
    dataset = Dataset.from_list(wiki_features[:24])
    for name in NAMES:
        torch.manual_seed(0)  # model init only; the collator has its own generators
        args = TrainingArguments(
            output_dir=str(tmp_path / name), max_steps=3, per_device_train_batch_size=8, report_to=[], use_cpu=True,
            save_strategy="no", logging_steps=1, disable_tqdm=True,
        )
        collator = build_collator(name, minilm_tokenizer, stats=informed_stats(name))
        result = Trainer(model=BertForMaskedLM(config), args=args, train_dataset=dataset, data_collator=collator).train()
        assert result.global_step == 3 and torch.isfinite(torch.tensor(result.training_loss)), name


@pytest.mark.parametrize("name", NAMES)
def test_same_masks_with_zero_and_two_workers(name, minilm_tokenizer, wiki_features, informed_stats):
    from torch.utils.data import DataLoader

    def run(num_workers: int) -> list[dict]:
        collator = build_collator(name, minilm_tokenizer, stats=informed_stats(name), seed=7)
        loader = DataLoader(wiki_features[:48], batch_size=8, collate_fn=collator, num_workers=num_workers)
        return list(loader)

    serial, parallel = run(0), run(2)
    assert len(serial) == len(parallel) == 6
    for one, other in zip(serial, parallel):
        assert torch.equal(one["labels"], other["labels"]) and torch.equal(one["input_ids"], other["input_ids"])
    assert sum((batch["labels"] != -100).sum().item() for batch in serial) > 0
