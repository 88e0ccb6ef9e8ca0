"""The collators where users put them: transformers.Trainer, DataLoader workers, build_collator's errors."""

from __future__ import annotations

import random

import pytest
import torch
from masking_helpers import wordpiece_tokenizer

from mlmkit import build_collator
from mlmkit.collators import MaskingCollator
from mlmkit.errors import MlmkitError

NAMES = ["random", "whole_word", "span"]


@pytest.fixture
def one_thread():
    """One torch thread: on a busy shared CPU, intra-op threads of a tiny model mostly wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def synthetic_features(tokenizer, rows: int, seed: int = 0) -> list[dict]:
    """`data prepare`-style rows over the small WordPiece vocabulary: words of 1-3 pieces in [CLS] ... [SEP]."""
    rng = random.Random(seed)
    vocab = tokenizer.get_vocab()
    words = [i for token, i in vocab.items() if token.startswith("w")]
    pieces = [i for token, i in vocab.items() if token.startswith("##")]
    features = []
    for _ in range(rows):
        ids, word_ids = [tokenizer.cls_token_id], [-1]
        for word in range(rng.randint(5, 30)):
            for piece in range(rng.randint(1, 3)):
                ids.append(rng.choice(pieces) if piece else rng.choice(words))
                word_ids.append(word)
        ids.append(tokenizer.sep_token_id)
        word_ids.append(-1)
        special = [int(w < 0) for w in word_ids]
        features.append({"input_ids": ids, "attention_mask": [1] * len(ids), "special_tokens_mask": special, "word_ids": word_ids})
    return features


@pytest.mark.parametrize("name", NAMES)
def test_trainer_three_steps_with_default_remove_unused_columns(name, tmp_path, one_thread):
    """Trainer drops word_ids/special_tokens_mask (not in forward): the collator derives them, no IndexError.

    A small vocabulary keeps the model tiny; the real WordPiece vocabulary is covered by the statistics tests.
    """
    from datasets import Dataset
    from transformers import BertConfig, BertForMaskedLM, Trainer, TrainingArguments

    tokenizer = wordpiece_tokenizer(50)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )
    torch.manual_seed(0)  # model init only; the collator has its own generators
    model = BertForMaskedLM(config)
    dataset = Dataset.from_list(synthetic_features(tokenizer, 24))
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=8, report_to=[], use_cpu=True,
        save_strategy="no", logging_steps=1, disable_tqdm=True,
    )
    assert args.remove_unused_columns is True
    collator = build_collator(name, tokenizer)
    seen_keys = set()

    def recording_collator(features):
        seen_keys.update(features[0])
        return collator(features)

    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=recording_collator)
    result = trainer.train()
    assert result.global_step == 3 and torch.isfinite(torch.tensor(result.training_loss))
    assert "word_ids" not in seen_keys and "special_tokens_mask" not in seen_keys  # the derived path ran


@pytest.mark.parametrize("name", NAMES)
def test_same_masks_for_zero_and_two_workers(name, minilm_tokenizer, wiki_features):
    from torch.utils.data import DataLoader

    def run(num_workers: int) -> list[dict]:
        collator = build_collator(name, minilm_tokenizer, seed=9)
        loader = DataLoader(wiki_features[:96], batch_size=8, collate_fn=collator, num_workers=num_workers)
        return list(loader)

    serial, parallel = run(0), run(2)
    assert len(serial) == len(parallel) == 12
    for one, other in zip(serial, parallel):
        assert all(torch.equal(one[key], other[key]) for key in one)
    assert not torch.equal(serial[0]["labels"], serial[1]["labels"][: serial[0]["labels"].shape[0]])


def test_epochs_differ_and_resume_replays(minilm_tokenizer, wiki_features):
    collator = build_collator("span", minilm_tokenizer, seed=4)
    batches = [wiki_features[i : i + 8] for i in range(0, 32, 8)]
    first = [collator(batch) for batch in batches]
    collator.set_epoch(1)
    second = collator(batches[0])
    assert not torch.equal(first[0]["labels"], second["labels"])
    collator.set_epoch(0, start_batch=2)
    assert torch.equal(collator(batches[2])["labels"], first[2]["labels"])


def test_pad_to_multiple_of_and_token_type_ids(minilm_tokenizer):
    encoded = minilm_tokenizer(["a short one", "a somewhat longer second sentence here"])
    features = [{key: encoded[key][i] for key in encoded} for i in range(2)]
    out = build_collator("whole_word", minilm_tokenizer, pad_to_multiple_of=8)(features)
    assert out["input_ids"].shape[1] % 8 == 0
    assert set(out) == {"input_ids", "attention_mask", "labels", "token_type_ids"}


def test_build_collator_routes_options(minilm_tokenizer):
    collator = build_collator("span", minilm_tokenizer, geometric_p=0.3, max_span_length=5, mlm_probability=0.3, seed=2)
    assert isinstance(collator, MaskingCollator)
    assert (collator.masker.geometric_p, collator.masker.max_span_length, collator.mlm_probability) == (0.3, 5, 0.3)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("spam", {}, "unknown masking strategy 'spam'.*did you mean 'span'"),
        ("span", {"geometric_q": 0.2}, "unknown option 'geometric_q'.*did you mean 'geometric_p'"),
        ("random", {"mlm_probabilty": 0.2}, "did you mean 'mlm_probability'"),
        ("random", {"mlm_probability": 1.5}, r"mlm_probability=1.5 must be in \(0, 1\]"),
        ("random", {"mask_replace_prob": 0.95, "random_replace_prob": 0.1}, "sum is the share"),
        ("span", {"geometric_p": 0.0}, r"geometric_p=0.0 must be in \(0, 1\]"),
        ("span", {"min_span_length": 4, "max_span_length": 2}, "min_span_length=4, max_span_length=2"),
        ("random", {"output": "late"}, "unknown output stage 'late'"),
    ],
)
def test_build_collator_errors_say_what_to_fix(name, options, message, minilm_tokenizer):
    with pytest.raises(MlmkitError, match=message):
        build_collator(name, minilm_tokenizer, **options)


@pytest.mark.parametrize("as_tensors", [False, True])
def test_pre_padded_rows_and_tensor_features(as_tensors, minilm_tokenizer):
    """Rows padded before collation (attention_mask 0) and rows given as tensors (datasets' torch format)."""
    encoded = minilm_tokenizer(["a short one", "a somewhat longer second sentence here"], padding=True)
    features = [{key: encoded[key][i] for key in ("input_ids", "attention_mask")} for i in range(2)]
    if as_tensors:
        features = [{key: torch.tensor(value) for key, value in feature.items()} for feature in features]
    out = build_collator("whole_word", minilm_tokenizer, mlm_probability=1.0)(features)
    expected_mask = torch.tensor(encoded["attention_mask"])
    assert torch.equal(out["attention_mask"], expected_mask)
    picked = out["labels"] != -100
    assert not bool(picked[expected_mask == 0].any())
    specials = torch.isin(torch.tensor(encoded["input_ids"]), torch.tensor(minilm_tokenizer.all_special_ids))
    assert torch.equal(picked, expected_mask.bool() & ~specials)  # rate 1.0: every real, non-special token
