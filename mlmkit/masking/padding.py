"""Fast right-padding of per-example integer lists into one (B, T) tensor.

Collating Python lists is usually the slowest part of an MLM collator (HF pads row by row through the
tokenizer). Here every column is flattened once into a numpy array and scattered into the padded array
with a single boolean index, so the cost is one pass over the tokens.
"""

from __future__ import annotations

import struct
from functools import lru_cache
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
        floating = (row.is_floating_point() or row.is_complex()) if isinstance(row, torch.Tensor) else row.dtype.kind not in "iub"
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


@lru_cache(maxsize=64)
def _row_struct(length: int) -> struct.Struct:
    return struct.Struct(f"{length}q")  # native int64, numpy's layout


def _pack_ints(rows: list[Any]) -> np.ndarray | None:
    """Rows of ints (lists/tuples) as one writable int64 array, through C-level packing: as bytes when every
    value is in 0..255 (masks: about 3× faster than `np.fromiter`), else as packed int64 per row (about
    1.4× faster). None when a value is not an int in range (None, a float, a string): the caller's slower
    path handles those and names the bad value."""
    try:
        return np.frombuffer(b"".join(map(bytes, rows)), dtype=np.uint8).astype(np.int64)
    except (TypeError, ValueError):
        pass
    try:
        return np.frombuffer(bytearray().join([_row_struct(len(row)).pack(*row) for row in rows]), dtype=np.int64)
    except struct.error:
        return None


def _flatten(rows: list[Any], fill: int, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate rows (lists, tuples, arrays or tensors, mixed in any way) into one int64 array and their
    lengths (B,); None becomes `fill` (in per-token columns such as word_ids; input_ids must be ids throughout)."""
    if _plain_rows(rows):
        return _ints_of_lists(rows, fill, key, 0), np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    rows = [_one_row(row, key, index) for index, row in enumerate(rows)]
    parts = [
        _ints_of_lists([row], fill, key, index) if isinstance(row, (list, tuple)) else _ints_of_array(row, key, index)
        for index, row in enumerate(rows)
    ]
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return flat, np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))


def _ints_of_lists(rows: list[Any], fill: int, key: str, first_index: int) -> np.ndarray:
    """Rows that are lists/tuples (features first_index, first_index + 1, ...) as one int64 array.

    Raises:
        MlmkitError: naming the feature and value, for a value that is not an int (None is one in input_ids).
    """
    packed = _pack_ints(rows)
    if packed is None and key != "input_ids":  # None inside (word_ids of special tokens)
        packed = _pack_ints([[fill if value is None else value for value in row] for row in rows])
    if packed is not None:
        return packed

    def wrong(value: Any) -> bool:
        if value is None:
            return key == "input_ids"
        if isinstance(value, np.bool_):
            return False
        return not isinstance(value, (int, np.integer)) or not -(1 << 63) <= int(value) < 1 << 63

    bad_rows = [index for index, row in enumerate(rows) if any(map(wrong, row))]
    if not bad_rows:  # valid values that C-level packing does not take (numpy bools)
        values = (fill if value is None else value for row in rows for value in row)
        return np.fromiter(values, dtype=np.int64, count=sum(map(len, rows)))
    bad = next(filter(wrong, rows[bad_rows[0]]))
    raise MlmkitError(
        f"feature {first_index + bad_rows[0]}: {key!r} holds {bad!r} ({type(bad).__name__}); values must be 64-bit ints, from the tokenizer"
    )


def _ints_of_array(row: np.ndarray | torch.Tensor, key: str, index: int) -> np.ndarray:
    """A 1-D integer array or tensor (feature `index`) as int64; MlmkitError for uint64 values past int64."""
    values = np.asarray(row.cpu() if isinstance(row, torch.Tensor) else row)
    if values.dtype == np.uint64 and values.size and int(values.max()) >= 1 << 63:
        raise MlmkitError(f"feature {index}: {key!r} holds {int(values.max())}; values must be 64-bit ints, from the tokenizer")
    return values.astype(np.int64).reshape(-1)


def pad_feature(
    features: list[dict[str, Any]],
    key: str,
    fill: int,
    pad_to_multiple_of: int | None = None,
    length: int | None = None,
    row_lengths: np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Right-pad column `key` of every feature with `fill`.

    Args:
        features: dicts holding `key` as a list/array/tensor of ints (None entries read as `fill`).
        key: the column to pad.
        fill: padding value.
        pad_to_multiple_of: round the padded length up to a multiple of this.
        length: pad to exactly this length; default: the longest row.
        row_lengths: (B,) lengths every row must have (those of `input_ids`, for a per-token column).

    Returns:
        (LongTensor (B, T), BoolTensor (B, T) True on the rows' own positions, int64 array (B,) of row lengths).

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
        return torch.from_numpy(flat.reshape(len(features), target)), torch.ones(len(features), target, dtype=torch.bool), lengths
    inside = np.arange(target) < lengths[:, None]  # (B, T)
    padded = np.full((len(features), target), fill, dtype=np.int64)
    padded[inside] = flat
    return torch.from_numpy(padded), torch.from_numpy(inside), lengths


def holds_only_ones(features: list[dict[str, Any]], key: str, expected: np.ndarray) -> bool:
    """True if every feature's `key` is a plain list of 1s (a packed batch's attention_mask), checked at C
    speed (bytes of the rows, with the 1s deleted, are empty), so the column need not be padded. False for
    anything else, which the caller reads in full.

    Raises:
        MlmkitError: a plain row whose length differs from `expected` (B,), the input_ids lengths.
    """
    rows = [feature.get(key) for feature in features]
    if not _plain_rows(rows):
        return False
    _check_lengths(key, np.fromiter(map(len, rows), dtype=np.int64, count=len(rows)), expected)
    try:
        joined = b"".join(map(bytes, rows))
    except (TypeError, ValueError):  # None, or a value outside 0..255
        return False
    return not joined.translate(None, b"\x01")


def _check_lengths(key: str, lengths: np.ndarray, expected: np.ndarray) -> None:
    if not np.array_equal(lengths, expected):
        row = int(np.flatnonzero(lengths != expected)[0])
        raise MlmkitError(
            f"feature {row}: column {key!r} has {int(lengths[row])} values but input_ids has {int(expected[row])}; "
            "a per-token column needs one value per token (word_ids, special_tokens_mask and attention_mask from "
            "the same tokenizer call as input_ids, special tokens included)"
        )
