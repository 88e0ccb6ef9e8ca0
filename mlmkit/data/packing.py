"""Cut tokenized documents into fixed-length rows with block-local word ids, vectorised in numpy.

Packed (RoBERTa §4.2 FULL-SENTENCES, as fairseq builds it: TokenBlockDataset over a stream in
which every document ends with the separator, then PrependTokenDataset adds <s>): the stream
``doc1 SEP doc2 SEP ...`` is cut into pieces of ``seq_len - 1`` tokens and each row is
``CLS + piece``. Every corpus token lands in exactly one row; a row need not end with SEP;
the last row is padded (attention_mask 0). Unpacked: each document becomes one or more rows
``CLS + piece of seq_len - 2 tokens + SEP`` (long documents are split, never truncated), padded.

Word ids are renumbered per row from 0 in order of appearance, -1 on CLS, SEP and padding. A new
word starts where the document-level word id changes or after a special token, so no word spans
a separator; a word cut by a row edge becomes a partial word in each of the two rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COLUMNS = ("input_ids", "attention_mask", "special_tokens_mask", "word_ids")


@dataclass(frozen=True)
class SpecialIds:
    """Ids of the three special tokens rows are built with."""

    cls: int
    sep: int
    pad: int


@dataclass
class Rows:
    """A batch of rows, every array (N, seq_len)."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    special_tokens_mask: np.ndarray
    word_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.input_ids)


def local_word_ids(words: np.ndarray) -> np.ndarray:
    """Renumber word ids per row from 0 in order of appearance; -1 stays -1.

    Args:
        words: (N, T) document-level word ids, -1 for special tokens and padding.

    Returns:
        (N, T) int32: a word starts where the id changes or follows a -1.
    """
    previous = np.concatenate([np.full((len(words), 1), -1, words.dtype), words[:, :-1]], axis=1)
    starts = (words >= 0) & (words != previous)
    local = np.cumsum(starts, axis=1, dtype=np.int64) - 1
    return np.where(words >= 0, local, -1).astype(np.int32)


class StreamPacker:
    """Pack batches of documents into rows of exactly `seq_len` tokens, carrying the rest over.

    Feed `add(ids, words, offsets)` for each batch of documents (flattened, arrow style), then
    call `finish()` once for the padded last row.
    """

    def __init__(self, seq_len: int, special: SpecialIds) -> None:
        self.body = seq_len - 1
        self.special = special
        self.carry_ids = np.empty(0, np.int64)
        self.carry_words = np.empty(0, np.int64)

    def add(self, ids: np.ndarray, words: np.ndarray, offsets: np.ndarray) -> Rows:
        """Append documents (ids/words flat, offsets (D+1,)) and return the rows now complete."""
        stream_ids, stream_words = _join_with_separator(ids, words, offsets, self.special.sep)
        stream_ids = np.concatenate([self.carry_ids, stream_ids])
        stream_words = np.concatenate([self.carry_words, stream_words])
        full = len(stream_ids) // self.body * self.body
        self.carry_ids, self.carry_words = stream_ids[full:], stream_words[full:]
        return self._rows(stream_ids[:full], stream_words[:full], full)

    def finish(self) -> Rows:
        """Return the last, padded row (none if the stream ended on a row edge)."""
        valid = len(self.carry_ids)
        padded = -(-valid // self.body) * self.body
        ids = np.full(padded, self.special.pad, np.int64)
        words = np.full(padded, -1, np.int64)
        ids[:valid], words[:valid] = self.carry_ids, self.carry_words
        self.carry_ids, self.carry_words = ids[:0], words[:0]
        return self._rows(ids, words, valid)

    def _rows(self, ids: np.ndarray, words: np.ndarray, valid: int) -> Rows:
        attention = np.arange(len(ids)) < valid
        special = (ids == self.special.sep) & (words < 0) | ~attention
        shape = (-1, self.body)
        cls = np.full((len(ids) // self.body, 1), self.special.cls, np.int64)
        ones = np.ones_like(cls, dtype=bool)
        return _make_rows(
            np.hstack([cls, ids.reshape(shape)]),
            np.hstack([ones, attention.reshape(shape)]),
            np.hstack([ones, special.reshape(shape)]),
            np.hstack([np.full_like(cls, -1), words.reshape(shape)]),
        )


def split_documents(ids: np.ndarray, words: np.ndarray, offsets: np.ndarray, seq_len: int, special: SpecialIds) -> Rows:
    """Unpacked rows: ``CLS piece SEP`` + padding, long documents split into pieces of seq_len - 2.

    Args:
        ids, words: (L,) flattened token ids and document-level word ids of D documents.
        offsets: (D+1,) start of each document in `ids`.
        seq_len: row length (>= 3).
        special: CLS, SEP and PAD ids.
    """
    body = seq_len - 2
    lengths = np.diff(offsets)
    pieces = -(-lengths // body)
    first_row = np.concatenate([[0], np.cumsum(pieces)])[:-1]
    document = np.repeat(np.arange(len(lengths)), lengths)
    within = np.arange(len(ids)) - offsets[:-1][document]
    rows, columns = first_row[document] + within // body, 1 + within % body
    n_rows = int(pieces.sum())
    input_ids = np.full((n_rows, seq_len), special.pad, np.int64)
    word_ids = np.full((n_rows, seq_len), -1, np.int64)
    input_ids[rows, columns], word_ids[rows, columns] = ids, words
    filled = np.bincount(rows, minlength=n_rows)  # content tokens per row
    input_ids[:, 0] = special.cls
    input_ids[np.arange(n_rows), filled + 1] = special.sep
    position = np.arange(seq_len)
    attention = position[None, :] < (filled + 2)[:, None]
    content = (position[None, :] >= 1) & (position[None, :] <= filled[:, None])
    return _make_rows(input_ids, attention, ~content, word_ids)


def _join_with_separator(ids: np.ndarray, words: np.ndarray, offsets: np.ndarray, sep_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``doc1 SEP doc2 SEP ...`` and its word ids (-1 on SEP) for flattened documents."""
    n_documents = len(offsets) - 1
    document = np.repeat(np.arange(n_documents), np.diff(offsets))
    stream_ids = np.full(len(ids) + n_documents, sep_id, np.int64)
    stream_words = np.full(len(ids) + n_documents, -1, np.int64)
    positions = np.arange(len(ids)) + document  # each earlier document added one separator
    stream_ids[positions], stream_words[positions] = ids, words
    return stream_ids, stream_words


def _make_rows(input_ids: np.ndarray, attention: np.ndarray, special: np.ndarray, words: np.ndarray) -> Rows:
    return Rows(
        input_ids=input_ids.astype(np.int32),
        attention_mask=attention.astype(np.int8),
        special_tokens_mask=special.astype(np.int8),
        word_ids=local_word_ids(np.where(special.astype(bool), -1, words)),
    )
