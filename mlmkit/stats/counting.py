"""Vectorised counting of int64 keys (hashed n-grams, token pairs) over a streamed corpus.

Each chunk is reduced with `np.unique` (a sort, not a Python dict per token); reduced chunks are merged
into one sorted table only when they outgrow it, so merging costs O(total · log) rather than O(chunks ·
table). Memory is bounded by `max_entries`: when the table grows past it, the rarest keys are dropped
(lossy counting, Manku & Motwani 2002): a key that survives is under-counted by at most the pruning
threshold, recorded as `pruned_below`, so a builder's min_count above that threshold stays exact enough.
"""

from __future__ import annotations

import numpy as np


def _reduce(keys: np.ndarray, counts: np.ndarray, payload: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=counts, minlength=len(unique)).astype(np.int64)
    return unique, summed, (None if payload is None else payload[first])


class HashCounter:
    """Counts of int64 keys, each optionally carrying a fixed payload row (e.g. the words of an n-gram).

    Args:
        max_entries: keep at most about this many keys (None: unbounded).
    """

    def __init__(self, max_entries: int | None = None) -> None:
        self.max_entries = max_entries
        self.total = 0  # every count ever added, pruned or not: the denominator of probabilities
        self.pruned_below = 0
        self._keys = np.zeros(0, dtype=np.int64)
        self._counts = np.zeros(0, dtype=np.int64)
        self._payload: np.ndarray | None = None
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        self._pending_size = 0

    def add(self, keys: np.ndarray, payload: np.ndarray | None = None, counts: np.ndarray | None = None) -> None:
        """Count `keys` (N,), with optional `payload` (N, P) kept from one occurrence and `counts` (N,) weights."""
        if len(keys) == 0:
            return
        counts = np.ones(len(keys), dtype=np.int64) if counts is None else counts.astype(np.int64)
        self.total += int(counts.sum())
        reduced = _reduce(keys, counts, payload)
        self._pending.append(reduced)
        self._pending_size += len(reduced[0])
        if self._pending_size > max(len(self._keys), 1 << 21):
            self._merge()

    def _merge(self) -> None:
        if not self._pending:
            return
        parts = [(self._keys, self._counts, self._payload)] if len(self._keys) else []
        parts += self._pending
        keys = np.concatenate([part[0] for part in parts])
        counts = np.concatenate([part[1] for part in parts])
        payload = None if parts[0][2] is None else np.concatenate([part[2] for part in parts])
        self._keys, self._counts, self._payload = _reduce(keys, counts, payload)
        self._pending, self._pending_size = [], 0
        self._prune()

    def _prune(self) -> None:
        if self.max_entries is None or len(self._keys) <= self.max_entries:
            return
        keep_count = self.max_entries // 2
        threshold = int(np.partition(self._counts, len(self._counts) - keep_count)[len(self._counts) - keep_count])
        keep = self._counts > threshold
        self.pruned_below = max(self.pruned_below, threshold)
        self._keys, self._counts = self._keys[keep], self._counts[keep]
        if self._payload is not None:
            self._payload = self._payload[keep]

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(keys ascending, counts, payload rows or None), after merging everything added."""
        self._merge()
        return self._keys, self._counts, self._payload

    def __len__(self) -> int:
        self._merge()
        return len(self._keys)
