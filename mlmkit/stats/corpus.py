"""Stream a corpus (text files or a `datasets` dataset) as flat chunks of token ids and words.

Every statistics builder reads its corpus through `iter_chunks`, so all of them stream (memory bounded by
the chunk size, not the corpus), show progress, and see the same words as the collators
(`mlmkit.data.words`: the tokenizer's `word_ids()`, each CJK ideograph a word), each a sequence of token ids, so that a collator can recognise a word from ids
alone. Tokenisation runs in the tokenizer's Rust thread pool (all cores) for files, and through
`Dataset.map(num_proc=...)` for datasets.

A *segment* is a stretch of text n-grams and co-occurrence windows must not cross: a line of a text file,
or a run of a prepared example between special tokens (documents packed into one block are separated by
specials, which carry word id -1).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlmkit.data.corpus import check_corpus_files
from mlmkit.data.words import encode_words
from mlmkit.errors import MlmkitError
from mlmkit.stats.artifact import fingerprint_files
from mlmkit.stats.hashing import word_hashes


@dataclass(frozen=True)
class TokenChunk:
    """A slice of the corpus, flattened. N tokens, W words; specials and padding already removed.

    Attributes:
        ids: int64 (N,) token ids.
        segment: int64 (N,) segment index, non-decreasing from 0.
        word: int64 (N,) word index, non-decreasing from 0 to W-1.
        position: int64 (N,) index of each token inside its word.
        word_segment: int64 (W,) segment of each word.
    """

    ids: np.ndarray
    segment: np.ndarray
    word: np.ndarray
    position: np.ndarray
    word_segment: np.ndarray

    @property
    def num_words(self) -> int:
        return len(self.word_segment)


def chunk_from_rows(rows_ids: Sequence[Sequence[int]], rows_word_ids: Sequence[Sequence[int | None]]) -> TokenChunk:
    """Flatten rows of token ids and word ids (None or -1 = special/padding) into a `TokenChunk`."""
    lengths = np.fromiter((len(row) for row in rows_ids), dtype=np.int64, count=len(rows_ids))
    total = int(lengths.sum())
    ids = np.fromiter((token for row in rows_ids for token in row), dtype=np.int64, count=total)
    word_ids = np.fromiter(
        (-1 if word is None else word for row in rows_word_ids for word in row), dtype=np.int64, count=total
    )
    row = np.repeat(np.arange(len(lengths)), lengths)
    keep = word_ids >= 0
    # A segment starts at a new row or right after a dropped (special) token.
    boundary = np.ones(total, dtype=bool)
    boundary[1:] = (row[1:] != row[:-1]) | ~keep[:-1]
    new_word = boundary.copy()
    new_word[1:] |= word_ids[1:] != word_ids[:-1]
    segment = np.cumsum(boundary) - 1
    ids, segment, new_word = ids[keep], segment[keep], new_word[keep]
    if len(ids):
        segment = np.unique(segment, return_inverse=True)[1].astype(np.int64)
    word = np.cumsum(new_word) - 1
    starts = np.flatnonzero(new_word)
    position = np.arange(len(ids)) - starts[word] if len(ids) else np.zeros(0, dtype=np.int64)
    return TokenChunk(ids=ids, segment=segment, word=word, position=position, word_segment=segment[starts])


def chunk_word_hashes(chunk: TokenChunk) -> np.ndarray:
    """int64 (W,) hash of every word of a chunk (`mlmkit.stats.hashing.word_hashes`)."""
    ids, word, position = (torch.from_numpy(array) for array in (chunk.ids, chunk.word, chunk.position))
    return word_hashes(ids, word, position, chunk.num_words).numpy()


def _encode(tokenizer: Any, texts: list[str]) -> tuple[list[list[int]], list[list[int]]]:
    """Token ids and word ids (`mlmkit.data.words`: the same words the collators see)."""
    return encode_words(tokenizer, texts)


def _file_chunks(tokenizer: Any, paths: list[Path], chunk_bytes: int, progress: Any) -> Iterator[TokenChunk]:
    for path in paths:
        with open(path, "rb") as handle:
            lines: list[str] = []
            size = 0
            for raw in handle:
                lines.append(raw.decode("utf-8", errors="replace"))
                size += len(raw)
                if size >= chunk_bytes:
                    yield chunk_from_rows(*_encode(tokenizer, lines))
                    progress.update(size)
                    lines, size = [], 0
            if lines:
                yield chunk_from_rows(*_encode(tokenizer, lines))
                progress.update(size)


def _dataset_chunks(tokenizer: Any, dataset: Any, text_column: str, chunk_rows: int, num_proc: int | None, progress: Any) -> Iterator[TokenChunk]:
    columns = dataset.column_names or list(next(iter(dataset.take(1)), {}))
    if "input_ids" in columns:
        if "word_ids" not in columns:
            raise MlmkitError(
                f"the dataset has input_ids but no word_ids column (columns: {columns}); prepare it with "
                "`mlmkit data prepare`, which keeps word_ids, or pass a dataset with a text column"
            )
        batches = dataset.select_columns(["input_ids", "word_ids"]).iter(batch_size=chunk_rows)
    elif text_column in columns:
        batches = _encoded_batches(tokenizer, dataset, text_column, chunk_rows, num_proc)
    else:
        raise MlmkitError(f"the dataset has no {text_column!r} column (columns: {columns}); pass text_column=NAME")
    for batch in batches:
        yield chunk_from_rows(batch["input_ids"], batch["word_ids"])
        progress.update(len(batch["input_ids"]))


def _encoded_batches(tokenizer: Any, dataset: Any, text_column: str, chunk_rows: int, num_proc: int | None) -> Iterator[dict[str, list]]:
    """Token and word ids of the text column: `Dataset.map` over `num_proc` processes, or batch by batch for a stream."""

    def encode(batch: dict[str, list]) -> dict[str, list]:
        ids, words = _encode(tokenizer, [text or "" for text in batch[text_column]])
        return {"input_ids": ids, "word_ids": words}

    if not hasattr(dataset, "__len__"):  # an IterableDataset
        return (encode(batch) for batch in dataset.select_columns([text_column]).iter(batch_size=chunk_rows))
    columns = dataset.column_names
    tokenized = dataset.map(encode, batched=True, batch_size=chunk_rows, num_proc=num_proc, remove_columns=columns, desc="tokenizing")
    return tokenized.iter(batch_size=chunk_rows)


def check_corpus(corpus: Any) -> Any:
    """Return `corpus` as a list of readable, non-empty Paths, or a dataset unchanged; MlmkitError otherwise."""
    if hasattr(corpus, "column_names"):
        return corpus
    return check_corpus_files([corpus] if isinstance(corpus, (str, Path)) else corpus)


def corpus_fingerprint(corpus: Any) -> Any:
    """JSON-able identity of a corpus: file sizes and sha256, or a dataset's fingerprint and row count."""
    corpus = check_corpus(corpus)
    if isinstance(corpus, list):
        return fingerprint_files(corpus)
    return {"dataset_fingerprint": getattr(corpus, "_fingerprint", None), "rows": len(corpus) if hasattr(corpus, "__len__") else None}


def iter_chunks(
    tokenizer: Any,
    corpus: Any,
    chunk_bytes: int = 1 << 20,
    text_column: str = "text",
    num_proc: int | None = None,
    desc: str = "counting",
) -> Iterator[TokenChunk]:
    """Yield the corpus as `TokenChunk`s, with a progress bar.

    Args:
        tokenizer: a fast Hugging Face tokenizer (word ids are needed).
        corpus: text file path(s) (one passage per line) or a `datasets.Dataset` / `IterableDataset` with a
            text column, or with `input_ids` and `word_ids` columns as `mlmkit data prepare` writes them.
        chunk_bytes: bytes of text per chunk (files); datasets use chunk_bytes // 512 rows per chunk.
        text_column: the dataset's text column.
        num_proc: processes for tokenising a dataset (`Dataset.map`).
        desc: progress-bar label.
    """
    from tqdm.auto import tqdm

    if not getattr(tokenizer, "is_fast", False):
        raise MlmkitError(f"statistics need a fast tokenizer (word ids); got {type(tokenizer).__name__}. Save it with tokenizer.json")
    corpus = check_corpus(corpus)
    if isinstance(corpus, list):
        total = sum(path.stat().st_size for path in corpus)
        with tqdm(total=total, unit="B", unit_scale=True, desc=desc) as progress:
            yield from _file_chunks(tokenizer, corpus, chunk_bytes, progress)
    else:
        with tqdm(total=len(corpus) if hasattr(corpus, "__len__") else None, unit="rows", desc=desc) as progress:
            yield from _dataset_chunks(tokenizer, corpus, text_column, max(chunk_bytes // 512, 16), num_proc, progress)
