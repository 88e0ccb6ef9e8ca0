"""Fixtures for the masking tests: small synthetic tokenizers and real-text features."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@lru_cache(maxsize=None)
def wordpiece_tokenizer(num_words: int):
    """A WordPiece tokenizer with specials, `num_words` words, as many "##" pieces and two [unusedN] ids."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = [f"w{i}" for i in range(num_words)]
    pieces = [f"##p{i}" for i in range(num_words)]
    vocab = {token: i for i, token in enumerate(SPECIALS + ["[unused0]", "[unused1]"] + words + pieces)}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


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
