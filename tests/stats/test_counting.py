"""Vectorised counting and the shared word / n-gram hashes."""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from mlmkit.stats.corpus import chunk_from_rows, chunk_word_hashes
from mlmkit.stats.counting import HashCounter
from mlmkit.stats.hashing import batch_word_hashes, ngram_hashes


def test_counter_matches_python_counter_across_merges():
    rng = np.random.default_rng(0)
    counter, expected = HashCounter(), Counter()
    for _ in range(12):
        keys = rng.integers(0, 5000, size=50_000)
        counter.add(keys, payload=keys[:, None] * 3)
        expected.update(keys.tolist())
    keys, counts, payload = counter.result()
    assert np.all(np.diff(keys) > 0) and counter.total == 600_000
    assert dict(zip(keys.tolist(), counts.tolist())) == dict(expected)
    assert np.array_equal(payload[:, 0], keys * 3)


def test_pruning_bounds_memory_and_undercount():
    rng = np.random.default_rng(1)
    counter, expected = HashCounter(max_entries=2000), Counter()
    for _ in range(20):
        keys = np.concatenate([rng.integers(0, 50, size=20_000), rng.integers(1000, 10**9, size=20_000)])  # 50 heavy keys, many rare
        counter.add(keys)
        expected.update(keys.tolist())
    keys, counts, _ = counter.result()
    assert len(keys) <= 2000 and counter.pruned_below >= 1
    heavy = {k: c for k, c in zip(keys.tolist(), counts.tolist()) if k < 50}
    assert len(heavy) == 50  # every heavy key survives
    for key, count in heavy.items():  # lossy counting: under-counted by at most the pruning threshold per prune
        assert expected[key] - count <= counter.pruned_below * 20 and count <= expected[key]


def test_word_hashes_depend_on_pieces_and_their_split():
    # words (5, 6)(7) vs (5)(6, 7) vs (6, 5)(7): same ids, other words -> other hashes
    chunks = [chunk_from_rows([[5, 6, 7]], [words]) for words in ([0, 0, 1], [0, 1, 1])]
    first, second = (chunk_word_hashes(chunk) for chunk in chunks)
    swapped = chunk_word_hashes(chunk_from_rows([[6, 5, 7]], [[0, 0, 1]]))
    assert first[1] == swapped[1] and len({first[0], second[0], swapped[0]}) == 3 and first[1] != second[1]


def test_batch_hashes_equal_corpus_hashes_and_ngrams_are_incremental():
    ids = [[101, 2142, 2163, 2003, 1037, 2502, 102, 2047, 2259, 102, 0, 0]]
    words = [[-1, 0, 1, 2, 3, 3, -1, 0, 1, -1, -1, -1]]
    corpus = chunk_word_hashes(chunk_from_rows(ids, words))  # specials dropped: 6 words in two segments
    word_ids = torch.tensor([[-1, 0, 1, 2, 3, 3, -1, 4, 5, -1, -1, -1]])
    hashes, exists, adjacent = batch_word_hashes(torch.tensor(ids), word_ids)
    assert hashes[0].tolist() == corpus.tolist() and exists.all()
    assert adjacent[0].tolist() == [True, True, True, False, True]  # no n-gram across [SEP]
    table = ngram_hashes(hashes, 3)
    for n in (1, 2, 3):
        for start in range(6 - n + 1):
            assert table[n - 1][0, start] == ngram_hashes(hashes[:, start : start + n], n)[-1][0, 0]
    assert len(set(table[1][0].tolist())) == 5
