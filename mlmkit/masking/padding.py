"""Fast right-padding of per-example integer lists into one (B, T) tensor.

Collating Python lists is usually the slowest part of an MLM collator (HF pads row by row through the
tokenizer). Here every column is flattened once into a numpy array and scattered into the padded array
with a single boolean index, so the cost is one pass over the tokens.
"""

from __future__ import annotations

from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import torch

from mlmkit.errors import MlmkitError

_ROW_HELP = (
    "give one row per feature: a list of ints or a 1-D array/tensor (a (1, L) tensor, as "
    "tokenizer(text, return_tensors='pt') makes, is read as its one row)"
)


def _one_row(row: Any, key: str, index: int) -> Any:
    """The feature's row as a flat sequence of ints: a (1, L) array/tensor or [[...]] unwrapped; MlmkitError
    naming the feature for anything else (more dimensions, strings, floats)."""
    if isinstance(row, (list, tuple)):
        if len(row) and isinstance(row[0], (list, tuple, np.ndarray, torch.Tensor)):
            if len(row) != 1:
                raise MlmkitError(f"feature {index}: {key!r} is a list of {len(row)} rows; {_ROW_HELP}")
            return _one_row(row[0], key, index)
        for value in (row[0], row[-1]) if len(row) else ():  # the ends only: a check per row, not per token
            if isinstance(value, (str, bytes, float)):
                raise MlmkitError(f"feature {index}: {key!r} holds {type(value).__name__} values ({value!r}); ids must be ints, from the tokenizer")
        return row
    if isinstance(row, (np.ndarray, torch.Tensor)):
        shape = tuple(row.shape)
        if len(shape) > 2 or (len(shape) == 2 and shape[0] != 1) or len(shape) == 0:
            raise MlmkitError(f"feature {index}: {key!r} has shape {shape}; {_ROW_HELP}")
        floating = row.is_floating_point() if isinstance(row, torch.Tensor) else row.dtype.kind not in "iub"
        if floating:
            raise MlmkitError(f"feature {index}: {key!r} has dtype {row.dtype}; ids must be integers, from the tokenizer")
        return row.reshape(-1)
    raise MlmkitError(f"feature {index}: {key!r} is a {type(row).__name__}; {_ROW_HELP}")


def _plain_rows(rows: list[Any]) -> bool:
    """True if every row is a non-empty list/tuple whose ends are ints or None: what tokenizers and datasets
    give, which `_one_row` would pass unchanged. Checked with C-level maps, a fraction of a per-row loop."""
    if not set(map(type, rows)) <= {list, tuple}:
        return False
    try:
        ends = set(map(type, map(itemgetter(0), rows))) | set(map(type, map(itemgetter(-1), rows)))
    except IndexError:  # an empty row
        return False
    return ends <= {int, type(None)}


def _rows(rows: list[Any], key: str) -> list[Any]:
    """Every feature's row of column `key` as a flat sequence of ints (`_one_row`), checked per row only
    when the batch is not made of plain lists."""
    return rows if _plain_rows(rows) else [_one_row(row, key, index) for index, row in enumerate(rows)]


def _flatten(rows: list[Any], fill: int, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate rows (lists, tuples, arrays or tensors) into one int64 array; None becomes `fill` (in
    per-token columns such as word_ids; input_ids must be ids throughout)."""
    rows = _rows(rows, key)
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    total = int(lengths.sum())
    if isinstance(rows[0], (list, tuple)):
        try:
            return np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=total), lengths
        except TypeError:  # None inside (word_ids of special tokens)
            flat = chain.from_iterable(rows)
            try:
                if key == "input_ids":
                    raise TypeError("no None among ids")
                return np.fromiter((fill if v is None else v for v in flat), dtype=np.int64, count=total), lengths
            except (TypeError, ValueError):
                pass
        except ValueError:
            pass
        def wrong(value: Any) -> bool:
            return not isinstance(value, (int, np.integer)) and (value is not None or key == "input_ids")

        index = next(i for i, row in enumerate(rows) if any(map(wrong, row)))
        bad = next(filter(wrong, rows[index]))
        raise MlmkitError(f"feature {index}: {key!r} holds {bad!r} ({type(bad).__name__}); ids must be ints, from the tokenizer")
    arrays = [np.asarray(row.cpu() if isinstance(row, torch.Tensor) else row, dtype=np.int64).reshape(-1) for row in rows]
    return (np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)), lengths


def pad_feature(
    features: list[dict[str, Any]],
    key: str,
    fill: int,
    pad_to_multiple_of: int | None = None,
    length: int | None = None,
    row_lengths: np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad column `key` of every feature with `fill`.

    Args:
        features: dicts holding `key` as a list/array/tensor of ints (None entries read as `fill`).
        key: the column to pad.
        fill: padding value.
        pad_to_multiple_of: round the padded length up to a multiple of this.
        length: pad to exactly this length; default: the longest row.
        row_lengths: (B,) lengths every row must have (those of `input_ids`, for a per-token column).

    Returns:
        (LongTensor (B, T), BoolTensor (B, T) True on the rows' own positions).

    Raises:
        MlmkitError: a row that is not one row of ints, or whose length differs from `row_lengths`.
    """
    flat, lengths = _flatten([feature[key] for feature in features], fill, key)
    if row_lengths is not None:
        _check_lengths(key, lengths, row_lengths)
    target = int(lengths.max()) if length is None else length
    if pad_to_multiple_of:
        target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
    if flat.size == len(features) * target:  # every row already has the target length (packed blocks)
        return torch.from_numpy(flat.reshape(len(features), target)), torch.ones(len(features), target, dtype=torch.bool)
    inside = np.arange(target) < lengths[:, None]  # (B, T)
    padded = np.full((len(features), target), fill, dtype=np.int64)
    padded[inside] = flat
    return torch.from_numpy(padded), torch.from_numpy(inside)


def row_lengths(inside: torch.Tensor) -> np.ndarray:
    """(B,) row lengths from the `inside` mask that `pad_feature` returns."""
    return inside.numpy().sum(axis=1, dtype=np.int64)


def column_holds(features: list[dict[str, Any]], key: str, value: int, expected: np.ndarray) -> bool:
    """True if per-token column `key` holds `value` in some row (a C-level scan, much cheaper than padding it).

    Raises:
        MlmkitError: a row whose length differs from `expected` (B,), the input_ids lengths: padding such a
            column would change its meaning.
    """
    rows = _rows([feature[key] for feature in features], key)
    _check_lengths(key, np.fromiter(map(len, rows), dtype=np.int64, count=len(rows)), expected)
    return any(value in row for row in rows)


def _check_lengths(key: str, lengths: np.ndarray, expected: np.ndarray) -> None:
    if not np.array_equal(lengths, expected):
        row = int(np.flatnonzero(lengths != expected)[0])
        raise MlmkitError(
            f"feature {row}: column {key!r} has {int(lengths[row])} values but input_ids has {int(expected[row])}; "
            "a per-token column needs one value per token (word_ids, special_tokens_mask and attention_mask from "
            "the same tokenizer call as input_ids, special tokens included)"
        )
