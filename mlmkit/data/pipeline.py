"""Text -> token ids with word ids -> fixed-length rows, saved with `save_to_disk` and cached.

`prepare_dataset` reads documents (text files via `mlmkit.data.corpus`, or a `datasets`
dataset with a text column, one document per row), tokenizes them with `datasets.map`
(batched, `num_proc`), keeping the fast tokenizer's `word_ids()`, and packs them into rows
(`mlmkit.data.packing`). A dataset with only an `input_ids` column (already tokenized) gets its
word ids from the vocabulary's conventions instead (`mlmkit.masking.units.derive_word_ids`). The saved columns are the masking collators' input: `input_ids`,
`attention_mask`, `special_tokens_mask`, `word_ids` (block-local, -1 on specials and padding).

The output folder holds the dataset (a `Dataset`, or a `DatasetDict` with `train` and
`validation` when a validation fraction is asked for) and `mlmkit_prepare.json`: the cache key
(hashes of the corpus files or the dataset fingerprint, of the tokenizer, and the options)
and token counts. A second run with the same key reuses the folder instead of recomputing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlmkit.data.corpus import check_corpus_files, file_sha256, read_corpus
from mlmkit.data.output_folder import atomic_folder, check_output_folder
from mlmkit.data.packing import COLUMNS, SpecialIds, StreamPacker, iterate_rows, split_documents
from mlmkit.data.tokenizer import check_mlm_tokenizer, tokenizer_vocab_hash
from mlmkit.errors import MlmkitError, did_you_mean

logger = logging.getLogger(__name__)

CACHE_FILE = "mlmkit_prepare.json"
FORMAT_VERSION = 1  # bump when the layout of the rows changes, so old caches are not reused
_BATCH_DOCUMENTS = 1000


@dataclass(frozen=True)
class PreparedData:
    """What `prepare_dataset` made: the dataset, its folder, counts, and whether the cache was used."""

    dataset: Any
    path: Path
    stats: dict[str, Any]
    reused: bool


def prepare_dataset(
    tokenizer: Any,
    *,
    seq_len: int,
    out_dir: str | Path,
    corpus_files: list[str | Path] | None = None,
    dataset: Any = None,
    packed: bool = True,
    num_proc: int = 1,
    validation_fraction: float = 0.0,
    seed: int = 0,
    corpus_format: str = "auto",
    text_column: str = "text",
    split: str = "train",
    max_position_embeddings: int | None = None,
    overwrite: bool = False,
) -> PreparedData:
    """Tokenize and pack a corpus into rows of `seq_len` tokens; save it in `out_dir`.

    Args:
        tokenizer: a fast tokenizer with mask and pad tokens (`load_mlm_tokenizer`).
        seq_len: tokens per row, specials included.
        out_dir: output folder, written atomically.
        corpus_files: text files (give these or `dataset`).
        dataset: a `datasets.Dataset`, or the name of a saved folder / hub dataset.
        packed: RoBERTa FULL-SENTENCES packing; False gives one document per row (split if long).
        num_proc: processes for tokenization. The fast tokenizer already uses several threads
            per batch, so 1 is a good default on small machines.
        validation_fraction: share of documents held out as `validation` (0: no split).
        seed: seeds the document shuffle of the validation split.
        corpus_format: document layout of the files (`mlmkit.data.corpus`).
        text_column: column of `dataset` holding the text.
        split: split to use when `dataset` is a DatasetDict.
        max_position_embeddings: the model's limit, checked against `seq_len` if given (for
            RoBERTa, whose positions start at padding_idx + 1, pass max_position_embeddings - 2).
        overwrite: replace an existing output made from other inputs.

    Returns:
        PreparedData with the saved dataset (reloaded from `out_dir`).
    """
    check_mlm_tokenizer(tokenizer)
    check_seq_len(tokenizer, seq_len, max_position_embeddings)
    if not 0.0 <= validation_fraction < 1.0:
        raise MlmkitError(f"validation fraction must be in [0, 1), got {validation_fraction}; 0.01 to 0.05 is typical")
    if num_proc < 1:
        raise MlmkitError(f"num_proc must be at least 1, got {num_proc}")
    check_output_folder(out_dir, overwrite=True)  # writable; whether it may be replaced is decided below
    source, source_key = _open_source(corpus_files, dataset, corpus_format, text_column, split)
    options = {"seq_len": seq_len, "packed": packed, "validation_fraction": validation_fraction, "seed": seed}
    key = _cache_key(source_key, tokenizer, options)
    cached = _cached(out_dir, key)
    if cached is not None:
        return cached
    if Path(out_dir).is_dir() and any(Path(out_dir).iterdir()) and not overwrite:
        raise MlmkitError(
            f"output folder {str(out_dir)!r} is not empty and was not prepared from these inputs and options; "
            "choose another folder or pass --overwrite (overwrite=True) to replace it"
        )
    with atomic_folder(out_dir, overwrite=True) as temporary:
        result, stats = _build(source, tokenizer, temporary / ".work", options, text_column, num_proc)
        result.save_to_disk(str(temporary))
        shutil.rmtree(temporary / ".work", ignore_errors=True)
        record = {"cache_key": key, "options": options, "stats": stats, "tokenizer_vocab_hash": tokenizer_vocab_hash(tokenizer)}
        (temporary / CACHE_FILE).write_text(json.dumps(record, indent=2))
    return PreparedData(_load_saved(Path(out_dir)), Path(out_dir), stats, reused=False)


def check_seq_len(tokenizer: Any, seq_len: int, max_position_embeddings: int | None = None) -> None:
    """Raise MlmkitError if rows of `seq_len` tokens do not fit the tokenizer's or the model's maximum."""
    minimum = 3  # CLS, one token, SEP
    if seq_len < minimum:
        raise MlmkitError(f"--seq-len {seq_len} is too short: rows need at least {minimum} tokens ([CLS], a token, [SEP])")
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and limit < 10**9 and seq_len > limit:
        raise MlmkitError(
            f"--seq-len {seq_len} is larger than the tokenizer's model_max_length {limit}; "
            f"use --seq-len {limit} or less (or retrain the tokenizer with a larger --model-max-length)"
        )
    if max_position_embeddings is not None and seq_len > max_position_embeddings:
        raise MlmkitError(
            f"--seq-len {seq_len} is larger than the model's max_position_embeddings {max_position_embeddings}; "
            f"use --seq-len {max_position_embeddings} or less"
        )


def _open_source(corpus_files, dataset, corpus_format, text_column, split) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check the input and return (what to read, what identifies it for the cache)."""
    if (corpus_files is None) == (dataset is None):
        raise MlmkitError("give exactly one input: corpus files (--corpus FILE...) or a dataset (--dataset NAME_OR_DIR)")
    if corpus_files is not None:
        files = check_corpus_files(corpus_files)
        hashes = [file_sha256(path) for path in files]
        return {"files": files, "corpus_format": corpus_format}, {"files": hashes, "corpus_format": corpus_format}
    table = load_text_dataset(dataset, split)
    if len(table) == 0:
        raise MlmkitError("the dataset has no rows; pass a dataset with text in it")
    if text_column in table.column_names:
        return {"dataset": table, "column": text_column}, {"dataset": table._fingerprint, "text_column": text_column}
    if "input_ids" in table.column_names:
        return {"dataset": table, "column": "input_ids"}, {"dataset": table._fingerprint, "column": "input_ids"}
    raise MlmkitError(
        f"dataset has no column {text_column!r} and no 'input_ids' (columns: {', '.join(table.column_names)}); "
        "pass --text-column with the column that holds the text"
    )


def check_dataset_name(name: str) -> None:
    """Raise MlmkitError at once, without a Hub request, for a dataset name that can only be a
    missing local path: one that looks like a path (./x, /x, ~/x, a/b/c, x/, x.json) or is a typo of
    a folder beside it (`dataa` next to `data/`)."""
    path = Path(name).expanduser()
    looks_like_path = (
        name.startswith((".", "/", "~", "\\")) or name.endswith(("/", "\\")) or name.count("/") > 1 or bool(path.suffix)
    )
    folder = path.absolute().parent
    neighbours = [entry.name for entry in folder.iterdir() if entry.is_dir()] if folder.is_dir() else []
    hint = did_you_mean(path.name, neighbours, cutoff=0.8)
    if looks_like_path or hint:
        raise MlmkitError(
            f"dataset {name!r} does not exist{hint or ''}; pass a folder written by `mlmkit data prepare` "
            "or Dataset.save_to_disk (a Hub dataset is named like 'user/name')"
        )


def load_text_dataset(dataset: Any, split: str) -> Any:
    import datasets

    if isinstance(dataset, (str, Path)):
        folder = Path(dataset)
        if folder.is_dir():
            dataset = _load_saved(folder)
        else:
            check_dataset_name(str(dataset))
            dataset = datasets.load_dataset(str(dataset))  # a hub name: needs network unless cached
    if isinstance(dataset, datasets.DatasetDict):
        if split not in dataset:
            raise MlmkitError(f"the dataset has no split {split!r} (splits: {', '.join(dataset)}); pass --split")
        dataset = dataset[split]
    return dataset


def _load_saved(folder: Path) -> Any:
    import datasets

    try:
        return datasets.load_from_disk(str(folder))
    except FileNotFoundError:
        raise MlmkitError(
            f"{str(folder)!r} is not a folder written by `mlmkit data prepare` or Dataset.save_to_disk "
            "(it has no dataset_info.json / dataset_dict.json)"
        ) from None


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


def _build(source, tokenizer, work: Path, options, text_column, num_proc) -> tuple[Any, dict[str, Any]]:
    import datasets

    documents = _documents_dataset(source, work, text_column)
    if source.get("column") == "input_ids":
        function, arguments = _pretokenized_batch, {"tokenizer": tokenizer, "start_table": _start_table(tokenizer, documents)}
    else:
        documents = documents.filter(lambda batch: [bool(text and text.strip()) for text in batch[text_column]], batched=True)
        function, arguments = _tokenize_batch, {"tokenizer": tokenizer, "text_column": text_column}
    if len(documents) == 0:
        raise MlmkitError("the input has no non-blank document; pass text to prepare")
    splits = _split_documents(documents, options["validation_fraction"], options["seed"])
    prepared, stats = {}, {}
    for name, part in splits.items():
        tokenized = part.map(
            function,
            batched=True,
            num_proc=num_proc if num_proc > 1 else None,
            remove_columns=part.column_names,
            fn_kwargs=arguments,
            desc=f"Tokenizing {name}",
        ).filter(lambda batch: [len(ids) > 0 for ids in batch["input_ids"]], batched=True)
        prepared[name], stats[name] = _pack(tokenized, tokenizer, options, work / f"rows-{name}")
    if len(prepared) == 1:
        return prepared["train"], stats["train"]
    return datasets.DatasetDict(prepared), stats


def _documents_dataset(source: dict[str, Any], work: Path, text_column: str) -> Any:
    import datasets

    if "dataset" in source:
        return source["dataset"].select_columns([source["column"]])
    features = datasets.Features({text_column: datasets.Value("string")})
    return datasets.Dataset.from_generator(
        _corpus_rows,
        features=features,
        cache_dir=str(work / "documents"),
        gen_kwargs={"files": [str(path) for path in source["files"]], "corpus_format": source["corpus_format"], "column": text_column},
    )


def _corpus_rows(files: list[str], corpus_format: str, column: str) -> Iterator[dict[str, str]]:
    for document in read_corpus(files, corpus_format):
        yield {column: document}


def _split_documents(documents: Any, fraction: float, seed: int) -> dict[str, Any]:
    """Hold out a random `fraction` of documents (whole documents, so no text is in both splits)."""
    import torch

    if fraction == 0.0:
        return {"train": documents}
    held_out = round(fraction * len(documents))
    if held_out < 1 or held_out >= len(documents):
        raise MlmkitError(
            f"validation fraction {fraction} of {len(documents)} documents leaves an empty split; "
            "use more documents or a fraction between 1/documents and 1 - 1/documents"
        )
    order = torch.randperm(len(documents), generator=torch.Generator().manual_seed(seed)).tolist()
    return {"train": documents.select(sorted(order[held_out:])), "validation": documents.select(sorted(order[:held_out]))}


def _tokenize_batch(batch: dict[str, list], tokenizer: Any, text_column: str) -> dict[str, list]:
    """Token ids and document-level word ids (None -> -1); special-token text in the corpus stays text."""
    encoded = tokenizer(batch[text_column], add_special_tokens=False, truncation=False, split_special_tokens=True, verbose=False)
    word_ids = [[-1 if word is None else word for word in encoded.word_ids(index)] for index in range(len(encoded["input_ids"]))]
    return {"input_ids": encoded["input_ids"], "word_ids": word_ids}


def _start_table(tokenizer: Any, documents: Any) -> Any:
    """The vocabulary's word-start table, after checking that the dataset's ids fit the tokenizer."""
    from mlmkit.masking.units import word_start_table

    largest = largest_id(documents)
    if largest >= len(tokenizer):
        raise MlmkitError(
            f"the dataset's input_ids go up to {largest} but the tokenizer has {len(tokenizer)} tokens; "
            "pass the tokenizer the ids were made with"
        )
    return word_start_table(tokenizer)


def _pretokenized_batch(batch: dict[str, list], tokenizer: Any, start_table: Any) -> dict[str, list]:
    """Word ids for documents given only as ids, from the vocabulary's "##"/"Ġ"/"▁" convention.

    Special ids already in the documents (a [CLS]/[SEP] the user's tokenizer added) are dropped:
    packing adds its own. Documents go into one row with a non-maskable slot between them, so
    `derive_word_ids` restarts words at every document.
    """
    import torch

    from mlmkit.masking.units import derive_word_ids

    lengths = np.array([len(ids) for ids in batch["input_ids"]], dtype=np.int64)
    flat = np.fromiter(itertools.chain.from_iterable(batch["input_ids"]), np.int64, int(lengths.sum()))
    document = np.repeat(np.arange(len(lengths)), lengths)
    keep = ~np.isin(flat, tokenizer.all_special_ids)
    flat, document = flat[keep], document[keep]
    positions = np.arange(len(flat)) + document
    row, maskable = np.zeros(len(flat) + len(lengths), np.int64), np.zeros(len(flat) + len(lengths), bool)
    row[positions], maskable[positions] = flat, True
    words = derive_word_ids(torch.from_numpy(row)[None], torch.from_numpy(maskable)[None], start_table)[0].numpy()[positions]
    ends = np.cumsum(np.bincount(document, minlength=len(lengths)))[:-1]
    return {"input_ids": [part.tolist() for part in np.split(flat, ends)], "word_ids": [part.tolist() for part in np.split(words, ends)]}


def _pack(tokenized: Any, tokenizer: Any, options: dict[str, Any], cache_dir: Path) -> tuple[Any, dict[str, Any]]:
    """Pack a tokenized split into rows, streaming batches of documents; count every token."""
    import datasets

    if len(tokenized) == 0:
        raise MlmkitError("the input has no tokens (only blank text or special tokens); pass text to prepare")
    seq_len = options["seq_len"]
    special = SpecialIds(cls=tokenizer.cls_token_id, sep=tokenizer.sep_token_id, pad=tokenizer.pad_token_id)
    counts = {"documents": len(tokenized), "corpus_tokens": 0, "rows": 0, "content_tokens_in_rows": 0, "padding": 0}
    features = datasets.Features({name: datasets.List(datasets.Value("int8" if "mask" in name else "int32")) for name in COLUMNS})

    def rows() -> Iterator[dict[str, list[int]]]:
        packer = StreamPacker(seq_len, special)
        for batch in tokenized.with_format("arrow").iter(batch_size=_BATCH_DOCUMENTS):
            ids, words, offsets = _flatten(batch)
            counts["corpus_tokens"] += len(ids)
            block = packer.add(ids, words, offsets) if options["packed"] else split_documents(ids, words, offsets, seq_len, special)
            yield from _counted(block, counts)
        if options["packed"]:
            yield from _counted(packer.finish(), counts)

    table = datasets.Dataset.from_generator(rows, features=features, cache_dir=str(cache_dir), fingerprint=_hash(str(cache_dir)))
    assert counts["content_tokens_in_rows"] == counts["corpus_tokens"], counts  # every token in exactly one row
    return table, counts


def _flatten(batch: Any) -> tuple[Any, Any, Any]:
    ids = batch.column("input_ids").combine_chunks()
    words = batch.column("word_ids").combine_chunks()
    return ids.flatten().to_numpy(), words.flatten().to_numpy(), ids.offsets.to_numpy()


def _counted(block: Any, counts: dict[str, int]) -> Iterator[dict[str, list[int]]]:
    counts["rows"] += len(block)
    counts["content_tokens_in_rows"] += int((block.special_tokens_mask == 0).sum())
    counts["padding"] += int((block.attention_mask == 0).sum())
    return iterate_rows(block)


def _cached(out_dir: str | Path, key: str) -> PreparedData | None:
    record_path = Path(out_dir) / CACHE_FILE
    if not record_path.is_file():
        return None
    try:
        record = json.loads(record_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if record.get("cache_key") != key:
        return None
    logger.info("reusing %s: it was prepared from the same inputs and options", out_dir)
    return PreparedData(_load_saved(Path(out_dir)), Path(out_dir), record["stats"], reused=True)


def _cache_key(source_key: dict[str, Any], tokenizer: Any, options: dict[str, Any]) -> str:
    """Hash of everything the rows depend on: input content, tokenizer (vocab, rules, specials), options."""
    tokenizer_state = {
        "backend": tokenizer.backend_tokenizer.to_str(),
        "special": {role: str(token) for role, token in tokenizer.special_tokens_map.items()},
    }
    payload = {"version": FORMAT_VERSION, "source": source_key, "tokenizer": tokenizer_state, "options": options}
    return _hash(json.dumps(payload, sort_keys=True))


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

