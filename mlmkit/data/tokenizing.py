"""Tokenize batches of documents into flat numpy arrays, in this process or in `num_proc` worker processes.

A batch of D documents becomes `(ids, words, offsets)`: token ids and document-level word ids of all
documents end to end (int32, (L,)) and each document's start (int64, (D+1,)), the arrow-style layout that
`mlmkit.data.packing` cuts into rows. Only the Rust tokenizer (`tokenizers.Tokenizer`) runs here, never
Python per token, and special-token text in the corpus stays text (`encode_special_tokens`), as with
`split_special_tokens=True`. Word ids are `word_ids()`; a document with CJK ideographs (or every document,
given a segmenter) gets the one rule of `mlmkit.data.words.document_word_ids` applied.

With `num_proc` > 1 batches go to worker processes (spawned, each with a one-threaded copy of the
tokenizer, as `datasets.map(num_proc=...)` would use) and come back in order; at most two batches per
worker are in flight, so memory stays bounded whatever the corpus size. With `num_proc` = 1 the batch is
tokenized here, by the tokenizer's own thread pool.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from mlmkit.data.words import Segmenter, contains_cjk, document_word_ids
from mlmkit.errors import MlmkitError

TokenizedBatch = tuple[np.ndarray, np.ndarray, np.ndarray]  # ids (L,), words (L,), offsets (D+1,)

_worker_tokenizer: Any = None
_worker_segmenter: Segmenter | None = None


def tokenize_documents(backend: Any, texts: list[str], segmenter: Segmenter | None = None) -> TokenizedBatch:
    """Token ids, word ids and document offsets of `texts` (no special tokens added).

    Args:
        backend: a `tokenizers.Tokenizer` (a fast tokenizer's `backend_tokenizer`).
        texts: D documents.
        segmenter: optional `text -> words` for CJK text (`mlmkit.data.words.document_word_ids`).
    """
    encodings = backend.encode_batch(texts, add_special_tokens=False)
    lengths = np.fromiter((len(encoding.ids) for encoding in encodings), np.int64, len(encodings))
    total = int(lengths.sum())
    ids = np.fromiter(itertools.chain.from_iterable(encoding.ids for encoding in encodings), np.int32, total)
    word_lists = (encoding.word_ids for encoding in encodings)
    try:
        words = np.fromiter(itertools.chain.from_iterable(word_lists), np.int32, total)
    except TypeError:  # a token outside any word (an added token) has word id None
        words = np.array([-1 if word is None else word for encoding in encodings for word in encoding.word_ids], np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    for document, (text, encoding) in enumerate(zip(texts, encodings)):
        if segmenter is not None or contains_cjk(text):
            words[offsets[document] : offsets[document + 1]] = document_word_ids(encoding.word_ids, encoding.offsets, text, segmenter)
    return ids, words, offsets


def plain_backend(tokenizer_json: str) -> Any:
    """A private `tokenizers.Tokenizer` from its JSON: no padding or truncation a saved tokenizer may carry
    (the transformers wrapper resets those per call), special-token text encoded as text."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer_json)
    backend.no_padding()
    backend.no_truncation()
    backend.encode_special_tokens = True
    return backend


def _start_worker(tokenizer_json: str, segmenter: Segmenter | None) -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one process per core already; no threads on top
    global _worker_tokenizer, _worker_segmenter
    _worker_tokenizer, _worker_segmenter = plain_backend(tokenizer_json), segmenter


def _tokenize_in_worker(texts: list[str]) -> TokenizedBatch:
    return tokenize_documents(_worker_tokenizer, texts, _worker_segmenter)


def tokenized_batches(
    tokenizer: Any, batches: Iterable[list[str]], num_proc: int = 1, segmenter: Segmenter | None = None
) -> Iterator[TokenizedBatch]:
    """Tokenize each batch of documents with the fast `tokenizer`, yielding results in input order.

    Args:
        tokenizer: a transformers fast tokenizer.
        batches: lists of document texts; consumed lazily.
        num_proc: worker processes (1: tokenize in this process with the tokenizer's threads).
        segmenter: optional `text -> words` for CJK text; picklable when num_proc > 1.
    """
    tokenizer_json = tokenizer.backend_tokenizer.to_str()
    if num_proc <= 1:
        backend = plain_backend(tokenizer_json)
        for texts in batches:
            yield tokenize_documents(backend, texts, segmenter)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a threaded process (torch, the tokenizer's pool)
    initargs = (tokenizer_json, segmenter)
    try:
        with ProcessPoolExecutor(num_proc, mp_context=context, initializer=_start_worker, initargs=initargs) as pool:
            pending: deque[Future] = deque()
            for texts in batches:
                pending.append(pool.submit(_tokenize_in_worker, texts))
                if len(pending) >= 2 * num_proc:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    except BrokenProcessPool:
        raise MlmkitError(
            f"a tokenizer worker process stopped (num_proc={num_proc}; any traceback of it is above). Workers start by "
            "importing your script, so a script that calls this at its top level must put its code under "
            "`if __name__ == \"__main__\":`; a worker killed for memory needs a smaller num_proc or tokenize_batch_size"
        ) from None
