"""Write packed rows straight into the folder layout of `Dataset.save_to_disk`, shard by shard.

Why not `Dataset.from_generator(...)` and `save_to_disk`: that converts every row to Python lists, writes a
cache copy, then memory-maps the copy and reads all of it again to save it, so peak memory grows with the
corpus. Here each batch of rows goes from numpy to arrow once and is appended to an open shard; nothing
written is read back. The layout is the one `datasets.load_from_disk` reads: `data-0000i-of-0000N.arrow`
shards (arrow IPC streams written by `datasets`' own `ArrowWriter`), `dataset_info.json`, `state.json`, and
for several splits one folder per split plus `dataset_dict.json`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from mlmkit.data.packing import COLUMNS, Rows

SHARD_BYTES = 500 << 20  # save_to_disk's default max_shard_size


def row_features() -> Any:
    """The `datasets.Features` of prepared rows: int32 ids and word ids, int8 masks."""
    import datasets

    return datasets.Features({name: datasets.List(datasets.Value("int8" if "mask" in name else "int32")) for name in COLUMNS})


class SavedDatasetWriter:
    """Append `Rows` to a split folder; `close()` names the shards and writes the metadata files."""

    def __init__(self, folder: Path, shard_bytes: int = SHARD_BYTES) -> None:
        self.folder, self.shard_bytes = Path(folder), shard_bytes
        self.folder.mkdir(parents=True, exist_ok=True)
        self.features = row_features()
        self.shards: list[Path] = []
        self.writer: Any = None
        self.shard_size = 0

    def write(self, rows: Rows) -> None:
        if len(rows) == 0:
            return
        if self.writer is None or self.shard_size >= self.shard_bytes:
            self._next_shard()
        table = _arrow_table(rows)
        self.writer.write_table(table)
        self.shard_size += table.nbytes

    def close(self, fingerprint: str) -> None:
        """Finish the last shard (an empty one if no row came) and write state.json and dataset_info.json."""
        import datasets

        if self.writer is None:
            self._next_shard()
        self.writer.finalize()
        self.writer.close()
        names = [f"data-{index:05d}-of-{len(self.shards):05d}.arrow" for index in range(len(self.shards))]
        for shard, name in zip(self.shards, names):
            os.replace(shard, self.folder / name)
        datasets.DatasetInfo(features=self.features).write_to_directory(str(self.folder))
        state = {
            "_data_files": [{"filename": name} for name in names],
            "_fingerprint": fingerprint,
            "_format_columns": None,
            "_format_kwargs": {},
            "_format_type": None,
            "_output_all_columns": False,
            "_split": None,
        }
        (self.folder / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")

    def _next_shard(self) -> None:
        from datasets.arrow_writer import ArrowWriter

        if self.writer is not None:
            self.writer.finalize()
            self.writer.close()
        self.shards.append(self.folder / f".shard-{len(self.shards):05d}.arrow")
        self.writer = ArrowWriter(features=self.features, path=str(self.shards[-1]))
        self.shard_size = 0


def write_split_index(folder: Path, splits: list[str]) -> None:
    """`dataset_dict.json`: makes `folder` (one sub-folder per split) load as a `DatasetDict`."""
    (Path(folder) / "dataset_dict.json").write_text(json.dumps({"splits": splits}), encoding="utf-8")


def _arrow_table(rows: Rows) -> Any:
    import pyarrow as pa

    count, length = rows.input_ids.shape
    offsets = pa.array(np.arange(0, (count + 1) * length, length, dtype=np.int32))
    arrays = [pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(getattr(rows, name)).ravel())) for name in COLUMNS]
    return pa.Table.from_arrays(arrays, names=list(COLUMNS))
