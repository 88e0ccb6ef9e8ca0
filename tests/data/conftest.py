"""Helpers for the data tests: a reference whitespace/punctuation pre-tokenisation and word spans."""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Callable

import pytest


def _is_punctuation(character: str) -> bool:
    """BERT's definition: ASCII punctuation/symbols, or Unicode category P."""
    return character in string.punctuation or unicodedata.category(character).startswith("P")


def reference_words(text: str) -> list[str]:
    """Split at whitespace, then make every punctuation character a word of its own (BERT BasicTokenizer)."""
    words = []
    for chunk in text.split():
        current = ""
        for character in chunk:
            if _is_punctuation(character):
                words += [current, character] if current else [character]
                current = ""
            else:
                current += character
        if current:
            words.append(current)
    return words


def words_from_word_ids(text: str, encoding) -> list[str]:
    """The text of each word of a fast-tokenizer encoding: characters its tokens cover, by word id."""
    spans: dict[int, list[int]] = {}
    for word, (start, end) in zip(encoding.word_ids, encoding.offsets):
        if word is not None:
            span = spans.setdefault(word, [start, end])
            span[0], span[1] = min(span[0], start), max(span[1], end)
    return [text[start:end].strip() for start, end in (spans[word] for word in sorted(spans))]


@pytest.fixture(scope="session")
def word_reference() -> tuple[Callable, Callable]:
    return reference_words, words_from_word_ids


@pytest.fixture(scope="session")
def ascii_paragraphs(shared_data) -> list[str]:
    """Held-out ASCII paragraphs (WikiText-2 valid; the tokenizers train on the test split)."""
    path = shared_data / "corpus" / "wikitext-2-raw" / "wiki.valid.raw"
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    paragraphs = [line for line in lines if len(line) > 200 and line.isascii() and not line.startswith("=")]
    return paragraphs[:40]
