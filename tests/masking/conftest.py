"""Fixtures for the masking tests: the real MiniLM tokenizer and real-text features."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def minilm_tokenizer(minilm_path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_path), local_files_only=True)


@pytest.fixture(scope="session")
def wiki_features(minilm_tokenizer, shared_data: Path) -> list[dict]:
    """About 400 blocks of 128 tokens of real WikiText, as `data prepare` writes them (word_ids included)."""
    lines = (shared_data / "corpus" / "wikitext-2-raw" / "wiki.valid.raw").read_text(encoding="utf-8").splitlines()
    texts = [line.strip() for line in lines if len(line.split()) > 20][:400]
    encoded = minilm_tokenizer(texts, truncation=True, max_length=128, return_special_tokens_mask=True)
    features = []
    for i in range(len(texts)):
        word_ids = [-1 if w is None else w for w in encoded.word_ids(i)]
        features.append(
            {
                "input_ids": encoded["input_ids"][i],
                "attention_mask": encoded["attention_mask"][i],
                "special_tokens_mask": encoded["special_tokens_mask"][i],
                "word_ids": word_ids,
            }
        )
    return features
