"""Blocks prepared earlier (`mlmkit data prepare`, `prepare_dataset`): load them, and check they belong together
with the run's tokenizer and block length, so that a mismatch is one line, not an IndexError in the embedding
or a model silently paired with the wrong tokenizer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlmkit.data.pipeline import CACHE_FILE
from mlmkit.data.tokenizer import tokenizer_vocab_hash
from mlmkit.errors import MlmkitError


def load_prepared(path: str | Path, tokenizer: Any, seq_len: int | None = None) -> Any:
    """Load blocks prepared by `prepare_dataset`, checking they belong to `tokenizer` (and `seq_len`).

    Blocks record their tokenizer's vocabulary hash; blocks saved elsewhere are checked for ids the
    tokenizer does not have (they would index past the model's embedding).

    Raises:
        MlmkitError: not a prepared folder, another tokenizer, another block length.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise MlmkitError(f"{str(folder)!r} does not exist; prepare blocks with `mlmkit data prepare --out {folder}`")
    blocks = _load_saved(folder)
    try:
        record = json.loads((folder / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    saved_hash = record.get("tokenizer_vocab_hash")
    if saved_hash is not None and saved_hash != tokenizer_vocab_hash(tokenizer):
        raise MlmkitError(
            f"{str(folder)!r} was prepared with another tokenizer (vocabulary hash {saved_hash[:12]}…) than the one "
            f"given ({tokenizer_vocab_hash(tokenizer)[:12]}…, {len(tokenizer)} ids); use the tokenizer it was "
            "prepared with, or prepare the data again with this one"
        )
    splits = list(blocks.values()) if hasattr(blocks, "keys") else [blocks]
    largest = max(largest_id(split) for split in splits)
    if largest >= len(tokenizer):
        raise MlmkitError(
            f"{str(folder)!r} holds token id {largest} but the tokenizer has {len(tokenizer)} ids; "
            "use the tokenizer the blocks were prepared with, or prepare them again with this one"
        )
    prepared_len = record.get("options", {}).get("seq_len")
    if seq_len is not None and prepared_len is not None and prepared_len != seq_len:
        raise MlmkitError(f"{str(folder)!r} holds blocks of {prepared_len} tokens, not {seq_len}; set data.seq_len={prepared_len}")
    return blocks


def largest_id(dataset: Any) -> int:
    """The largest token id in a dataset's `input_ids` column (-1 when empty), without a Python loop."""
    import pyarrow.compute as compute

    if len(dataset) == 0:
        return -1
    largest = compute.max(compute.list_flatten(dataset.data.column("input_ids"))).as_py()
    return -1 if largest is None else int(largest)


def _load_saved(folder: Path) -> Any:
    import datasets

    try:
        return datasets.load_from_disk(str(folder))
    except FileNotFoundError:
        raise MlmkitError(
            f"{str(folder)!r} is not a folder written by `mlmkit data prepare` or Dataset.save_to_disk "
            "(it has no dataset_info.json / dataset_dict.json)"
        ) from None
