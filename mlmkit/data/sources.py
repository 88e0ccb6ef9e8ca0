"""Open what `--dataset` / `data.dataset` names, as `datasets` would, and stream its documents.

One function, `open_dataset`, decides what a name is, in this order:

1. a `datasets` object (`Dataset`, `IterableDataset`, or a dict of splits): used as it is;
2. a folder written by `save_to_disk`: `datasets.load_from_disk`;
3. a data file, or a folder of data files (`.jsonl`/`.json`, `.csv`/`.tsv`, `.parquet`, `.arrow`, `.txt`,
   each optionally compressed `.gz`/`.bz2`/`.xz`/`.zst`/`.lz4`): `load_dataset(kind, data_files=...,
   streaming=True)`, so the files are read once, in order, without a copy in the Hugging Face cache;
4. a name that looks like a path (starts with `.`, `/` or `~`, ends with a data-file suffix, or has more
   than one `/`) but does not exist: a path error;
5. anything else is a Hub dataset, with `config` and `split` as in `load_dataset(name, config,
   split=split)` (run_mlm.py's `--dataset_name` / `--dataset_config_name`). Offline (`HF_HUB_OFFLINE` /
   `HF_DATASETS_OFFLINE`, or the Hub not answering within a few seconds) this is one error line at once.

`DocumentSource` then yields the chosen text column (or ready-made `input_ids`) in batches, together with a
JSON identity of the input (file hashes, or the dataset's fingerprint) that caches are keyed by.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlmkit.data.corpus import DATA_FILE_KINDS, check_corpus_files, data_file_kind, file_sha256, read_corpus
from mlmkit.errors import MlmkitError, did_you_mean
from mlmkit.hub import hub_offline, hub_unreachable

BATCH_CHARACTERS = 1 << 20
_SAVED_MARKERS = ("state.json", "dataset_dict.json")


def open_dataset(dataset: Any, split: str = "train", config: str | None = None) -> Any:
    """The `datasets.Dataset` or `IterableDataset` that `dataset` names (see the module docstring).

    Args:
        dataset: a datasets object, a path (save_to_disk folder, data file, folder of data files) or a Hub name.
        split: the split to use where the input has several.
        config: the Hub dataset's configuration name (e.g. "wikitext-103-raw-v1").

    Raises:
        MlmkitError: a path that does not exist, a folder with no data files, an unknown split, a Hub name
            while the Hub cannot be reached.
    """
    if isinstance(dataset, (str, Path)):
        dataset = _load_named(str(dataset), split, config)
    return _pick_split(dataset, split)


def data_files_of(dataset: Any) -> list[Path] | None:
    """The data files a name refers to (a file or a folder of data files), or None for anything else."""
    if not isinstance(dataset, (str, Path)):
        return None
    path = Path(dataset).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir() and not _is_saved_dataset(path):
        return _folder_data_files(path)
    return None


def is_hub_name(name: Any) -> bool:
    """True when `open_dataset` would look `name` up on the Hub: not an existing path, and not path-like."""
    return isinstance(name, (str, Path)) and not Path(name).expanduser().exists() and not _looks_like_path(str(name))


def _load_named(name: str, split: str, config: str | None) -> Any:
    import datasets

    path = Path(name).expanduser()
    if path.is_dir() and _is_saved_dataset(path):
        return datasets.load_from_disk(str(path))
    files = data_files_of(path)
    if files is not None:
        kind = data_file_kind(files[0])
        # Stream the files (no cache copy): the split name of loose data files is always "train".
        return datasets.load_dataset(kind, data_files=[str(file) for file in files], split="train", streaming=True, **_reader_options(kind, files[0]))
    _refuse_missing_path(name)
    return _load_from_hub(name, split, config)


def _pick_split(dataset: Any, split: str) -> Any:
    if hasattr(dataset, "column_names") and not isinstance(dataset, dict):
        return dataset
    if split not in dataset:
        raise MlmkitError(f"the dataset has no split {split!r} (splits: {', '.join(dataset)}); pass --split with one of them")
    return dataset[split]


def _is_saved_dataset(folder: Path) -> bool:
    return any((folder / marker).is_file() for marker in _SAVED_MARKERS)


def _folder_data_files(folder: Path) -> list[Path]:
    """The folder's data files (recursively, sorted), all of one kind; MlmkitError if none or mixed."""
    files = sorted(path for path in folder.rglob("*") if path.is_file() and data_file_kind(path) is not None and not _hidden(path, folder))
    if not files:
        raise MlmkitError(
            f"folder {str(folder)!r} holds no data files ({', '.join(DATA_FILE_KINDS)}, optionally compressed) "
            "and was not written by save_to_disk; pass a data file, a folder of them, or a save_to_disk folder"
        )
    kinds = sorted({data_file_kind(path) for path in files})
    if len(kinds) > 1:
        raise MlmkitError(f"folder {str(folder)!r} mixes data file kinds ({', '.join(kinds)}); keep one kind per folder")
    return files


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _reader_options(kind: str, first: Path) -> dict[str, Any]:
    """`.tsv` files are CSV with a tab separator."""
    return {"sep": "\t"} if kind == "csv" and ".tsv" in first.suffixes else {}


def _refuse_missing_path(name: str) -> None:
    """MlmkitError at once, with no Hub request, for a name that can only be a missing local path: one that
    looks like a path, or a typo of a folder beside it (`dataa` next to `data/`)."""
    path = Path(name).expanduser()
    folder = path.absolute().parent
    neighbours = [entry.name for entry in folder.iterdir() if entry.is_dir()] if folder.is_dir() else []
    hint = did_you_mean(path.name, neighbours, cutoff=0.8)
    if _looks_like_path(name) or hint:
        raise MlmkitError(
            f"dataset path {name!r} does not exist{hint}; pass an existing file or folder (or a Hub dataset name such as wikitext)"
        )


def _looks_like_path(name: str) -> bool:
    """Hub names are `name` or `owner/name`; anything else a user types is meant as a path."""
    return (
        name.startswith((".", "/", "~")) or name.endswith("/") or data_file_kind(Path(name)) is not None
        or name.count("/") > 1 or "\\" in name
    )


def _load_from_hub(name: str, split: str, config: str | None) -> Any:
    import datasets

    where = f"Hub dataset {name!r}" + (f" (config {config!r})" if config else "")
    offline = hub_offline("HF_DATASETS_OFFLINE")
    if not offline:
        problem = hub_unreachable()
        if problem:
            raise MlmkitError(
                f"{where} is not a local path, and the Hugging Face Hub cannot be reached ({problem}); pass a local file "
                "or folder, or set HF_HUB_OFFLINE=1 to use a copy in the Hugging Face cache"
            )
    try:
        return datasets.load_dataset(name, config, split=split)
    except (ConnectionError, FileNotFoundError) as error:
        state = "offline mode is on (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE) and it is not in the Hugging Face cache" if offline else "the Hub could not provide it"
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise MlmkitError(f"cannot load {where}: {state} ({reason}); pass a local file or folder instead") from error
    except ValueError as error:  # unknown split or config
        raise MlmkitError(f"cannot load {where} split {split!r}: {str(error).splitlines()[0]}") from error


@dataclass(frozen=True)
class DocumentSource:
    """Documents in batches: texts, or token-id lists when `pretokenized`, plus the input's cache identity.

    Attributes:
        read: `read(batch_size)` yields lists of at most `batch_size` documents, in input order.
        pretokenized: documents are `input_ids` lists, not texts.
        identity: JSON-able identity of the input for cache keys (None: unknown, never reused).
    """

    read: Callable[[int], Iterator[list[Any]]]
    pretokenized: bool
    identity: dict[str, Any] | None

    def batches(self, batch_size: int) -> Iterator[list[Any]]:
        return self.read(batch_size)


def corpus_source(files: Iterable[str | Path], corpus_format: str = "auto") -> DocumentSource:
    """Plain text files read with `mlmkit.data.corpus` (checked first: MlmkitError if missing, empty, structured)."""
    paths = check_corpus_files(files)
    identity = {"files": [file_sha256(path) for path in paths], "corpus_format": corpus_format}
    return DocumentSource(lambda size: _batched(read_corpus(paths, corpus_format), size), False, identity)


def _batched(documents: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of at most `size` documents, closed early at BATCH_CHARACTERS characters (or token ids): a
    batch of 1000 long documents (WikiText articles are ~20 KB) would hold hundreds of MB of tokenizer output."""
    batch: list[Any] = []
    characters = 0
    for document in documents:
        batch.append(document)
        characters += len(document)
        if len(batch) >= size or characters >= BATCH_CHARACTERS:
            yield batch
            batch, characters = [], 0
    if batch:
        yield batch


def _column_batches(table: Any, column: str, size: int) -> Iterator[list[Any]]:
    """One column in batches as `_batched` cuts them (rows whose value is None are skipped)."""
    rows = (value for batch in table.select_columns([column]).iter(batch_size=size) for value in batch[column] if value is not None)
    return _batched(rows, size)


def document_source(dataset: Any, text_column: str = "text", split: str = "train", config: str | None = None) -> DocumentSource:
    """Open `dataset` (`open_dataset`) and choose its text column, or `input_ids` if it has no text column.

    Raises:
        MlmkitError: the dataset cannot be opened, has no rows (map-style), or has neither column.
    """
    table = open_dataset(dataset, split, config)
    columns = list(table.column_names or _first_row(table))
    if text_column in columns:
        column = text_column
    elif "input_ids" in columns:
        column = "input_ids"
    else:
        raise MlmkitError(
            f"the dataset has no column {text_column!r} and no 'input_ids' (columns: {', '.join(columns)}); "
            "pass --text-column (data.text_column) with the column that holds the text"
        )
    if hasattr(table, "__len__") and len(table) == 0:
        raise MlmkitError("the dataset has no rows; pass a dataset with text in it")
    identity = _identity(dataset, table, column, split, config)
    return DocumentSource(lambda size: _column_batches(table, column, size), column == "input_ids", identity)


def _first_row(table: Any) -> list[str]:
    """Columns of a streamed dataset whose features are not known in advance (JSON files)."""
    row = next(iter(table.take(1)), None) if hasattr(table, "take") else None
    if row is None:
        raise MlmkitError("the dataset has no rows; pass a dataset with text in it")
    return list(row)


def _identity(name: Any, table: Any, column: str, split: str, config: str | None) -> dict[str, Any] | None:
    files = data_files_of(name)
    if files is not None:
        return {"data_files": [file_sha256(path) for path in files], "column": column}
    fingerprint = getattr(table, "_fingerprint", None)
    if fingerprint is None or not hasattr(table, "__len__"):
        return None  # a stream handed in through the Python API: nothing stable to key a cache by
    return {"dataset": fingerprint, "split": split, "config": config, "column": column}
