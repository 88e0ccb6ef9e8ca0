"""Fast right-padding of per-example integer lists into one (B, T) tensor.

Collating Python lists is usually the slowest part of an MLM collator (HF pads row by row through the
tokenizer). Here every column is flattened once into a numpy array and scattered into the padded array
with a single boolean index, so the cost is one pass over the tokens.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np
import torch


def _flatten(rows: list[Any], fill: int) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate rows (lists, tuples, arrays or tensors) into one int64 array; None becomes `fill`."""
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    total = int(lengths.sum())
    if isinstance(rows[0], (list, tuple)):
        try:
            return np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=total), lengths
        except TypeError:  # None inside (word_ids of special tokens)
            flat = chain.from_iterable(rows)
            return np.fromiter((fill if v is None else v for v in flat), dtype=np.int64, count=total), lengths
    arrays = [np.asarray(row.cpu() if isinstance(row, torch.Tensor) else row, dtype=np.int64).reshape(-1) for row in rows]
    return (np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)), lengths


def column_contains(features: list[dict[str, Any]], key: str, value: int) -> bool:
    """True if column `key` exists and holds `value` in some row; a C-level scan, much cheaper than padding it."""
    return features[0].get(key) is not None and any(value in feature[key] for feature in features)


def pad_feature(
    features: list[dict[str, Any]],
    key: str,
    fill: int,
    pad_to_multiple_of: int | None = None,
    length: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad column `key` of every feature with `fill`.

    Args:
        features: dicts holding `key` as a list/array/tensor of ints (None entries read as `fill`).
        key: the column to pad.
        fill: padding value.
        pad_to_multiple_of: round the padded length up to a multiple of this.
        length: pad to exactly this length (rows must not be longer); default: the longest row.

    Returns:
        (LongTensor (B, T), BoolTensor (B, T) True on the rows' own positions).
    """
    flat, lengths = _flatten([feature[key] for feature in features], fill)
    target = int(lengths.max()) if length is None else length
    if pad_to_multiple_of:
        target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
    if int(lengths.max(initial=0)) > target:
        raise ValueError(f"feature {key!r} has a row of {int(lengths.max())} tokens, longer than input_ids ({target})")
    if flat.size == len(features) * target:  # every row already has the target length (packed blocks)
        return torch.from_numpy(flat.reshape(len(features), target)), torch.ones(len(features), target, dtype=torch.bool)
    inside = np.arange(target) < lengths[:, None]  # (B, T)
    padded = np.full((len(features), target), fill, dtype=np.int64)
    padded[inside] = flat
    return torch.from_numpy(padded), torch.from_numpy(inside)
