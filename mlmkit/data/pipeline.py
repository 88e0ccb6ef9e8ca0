"""Text -> token ids with word ids -> fixed-length rows, streamed into a `save_to_disk` folder and cached.

`prepare_dataset` reads documents (text files via `mlmkit.data.corpus`, or any dataset `mlmkit.data.sources`
opens: data files, save_to_disk folders, the Hub, a `Dataset` or `IterableDataset`, one document per row),
tokenizes them in batches of `tokenize_batch_size` documents keeping their words (`mlmkit.data.words`: the
fast tokenizer's `word_ids()`, each CJK ideograph a word unless a `segmenter` gives the words;
`mlmkit.data.tokenizing`, `num_proc` processes), packs them into rows (`mlmkit.data.packing`) and appends
the rows to the output's arrow shards (`mlmkit.data.saved_dataset`). It is one pass over the input: memory
holds a few batches, never the corpus. A dataset with only an `input_ids` column (already tokenized) gets
its word ids derived from the ids (`mlmkit.data.word_boundaries`). The saved
columns are the masking collators' input: `input_ids`, `attention_mask`, `special_tokens_mask`, `word_ids`
(block-local, -1 on specials and padding).

With a validation fraction f, documents are held out by systematic sampling: document i (0-based, in input
order, blank ones not counted) goes to `validation` when floor((i + 1)·f + u) > floor(i·f + u), with u drawn
from the seed. That holds out floor or ceil of f·n whole documents, spread over the corpus, without knowing
n in advance (a stream).

The output folder holds the dataset (a `Dataset`, or a `DatasetDict` with `train` and `validation`) and
`mlmkit_prepare.json`: the cache key (hashes of the input files or the dataset fingerprint, of the
tokenizer, and the options), the tokenizer's vocabulary hash and token counts. A second run with the same key reuses the folder instead of
recomputing. An `IterableDataset` handed in through the Python API has no stable identity and is always
prepared again.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlmkit.data.output_folder import atomic_folder, check_output_folder
from mlmkit.data.packing import SpecialIds, StreamPacker, split_documents
from mlmkit.data.saved_dataset import SavedDatasetWriter, write_split_index
from mlmkit.data.sources import DocumentSource, corpus_source, document_source
from mlmkit.data.tokenizer import check_mlm_tokenizer, tokenizer_vocab_hash
from mlmkit.data.tokenizing import TokenizedBatch, tokenized_batches
from mlmkit.data.word_boundaries import WordBoundaries
from mlmkit.data.words import Segmenter, special_token_ids
from mlmkit.errors import MlmkitError

logger = logging.getLogger(__name__)

CACHE_FILE = "mlmkit_prepare.json"
FORMAT_VERSION = 3  # bump when the layout of the rows changes, so old caches are not reused
TOKENIZE_BATCH_SIZE = 1000


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
    dataset_config: str | None = None,
    packed: bool = True,
    num_proc: int = 1,
    tokenize_batch_size: int = TOKENIZE_BATCH_SIZE,
    validation_fraction: float = 0.0,
    seed: int = 0,
    corpus_format: str = "auto",
    text_column: str = "text",
    split: str = "train",
    max_position_embeddings: int | None = None,
    overwrite: bool = False,
    segmenter: Segmenter | None = None,
    show_progress: bool = True,
) -> PreparedData:
    """Tokenize and pack a corpus into rows of `seq_len` tokens; save it in `out_dir`.

    Args:
        tokenizer: a fast tokenizer with mask and pad tokens (`load_mlm_tokenizer`).
        seq_len: tokens per row, specials included.
        out_dir: output folder, written atomically.
        corpus_files: plain text files (give these or `dataset`).
        dataset: anything `mlmkit.data.sources.open_dataset` opens: a path (data file, folder of data
            files, save_to_disk folder), a Hub name, a `Dataset`, `DatasetDict` or `IterableDataset`.
        dataset_config: the Hub dataset's configuration name.
        packed: RoBERTa FULL-SENTENCES packing; False gives one document per row (split if long).
        num_proc: tokenizer processes (1: this process, with the tokenizer's own threads).
        tokenize_batch_size: documents per tokenizer call; memory holds about 2·num_proc such batches.
        validation_fraction: share of documents held out as `validation` (0: no split).
        seed: seeds the offset of the systematic validation sample.
        corpus_format: document layout of the text files (`mlmkit.data.corpus`).
        text_column: column of `dataset` holding the text.
        split: split to use when `dataset` has several.
        max_position_embeddings: the model's limit, checked against `seq_len` if given (for
            RoBERTa, whose positions start at pad_token_id + 1, pass max_position_embeddings - pad_token_id - 1).
        overwrite: replace an existing output made from other inputs.
        segmenter: `text -> words` (e.g. `jieba.lcut`), picklable when num_proc > 1: the words of CJK text
            (Chinese whole-word masking, Cui et al. 2019); without one each ideograph is a word. Its module
            and name are part of the cache key.
        show_progress: a progress bar of documents read (off when a caller shows its own).

    Returns:
        PreparedData with the saved dataset (loaded from `out_dir`).
    """
    check_mlm_tokenizer(tokenizer)
    check_seq_len(tokenizer, seq_len, max_position_embeddings)
    if not 0.0 <= validation_fraction < 1.0:
        raise MlmkitError(f"validation fraction must be in [0, 1), got {validation_fraction}; 0.01 to 0.05 is typical")
    if num_proc < 1 or tokenize_batch_size < 1:
        raise MlmkitError(f"num_proc ({num_proc}) and tokenize batch size ({tokenize_batch_size}) must be at least 1")
    if (corpus_files is None) == (dataset is None):
        raise MlmkitError("give exactly one input: corpus files (--corpus FILE...) or a dataset (--dataset NAME_OR_PATH)")
    check_output_folder(out_dir, overwrite=True)  # writable; whether it may be replaced is decided below
    if corpus_files is not None:
        source = corpus_source(corpus_files, corpus_format)
    else:
        source = document_source(dataset, text_column, split, dataset_config)
    options = {"seq_len": seq_len, "packed": packed, "validation_fraction": validation_fraction, "seed": seed}
    if segmenter is not None:
        options["segmenter"] = f"{getattr(segmenter, '__module__', '?')}.{getattr(segmenter, '__qualname__', repr(segmenter))}"
    key = _cache_key(source.identity, tokenizer, options) if source.identity is not None else None
    cached = _cached(out_dir, key) if key is not None else None
    if cached is not None:
        return cached
    if Path(out_dir).is_dir() and any(Path(out_dir).iterdir()) and not overwrite:
        raise MlmkitError(
            f"output folder {str(out_dir)!r} is not empty and was not prepared from these inputs and options; "
            "choose another folder or pass --overwrite (overwrite=True) to replace it"
        )
    with atomic_folder(out_dir, overwrite=True) as temporary:
        stats = _build(source, tokenizer, temporary, options, num_proc, tokenize_batch_size, key or _hash(str(temporary)),
                       segmenter, show_progress)
        # The tokenizer's vocabulary hash: blocks loaded later with another tokenizer are refused (data/prepared.py).
        record = {"cache_key": key, "options": options, "stats": stats, "tokenizer_vocab_hash": tokenizer_vocab_hash(tokenizer)}
        (temporary / CACHE_FILE).write_text(json.dumps(record, indent=2))
    return PreparedData(_load(out_dir), Path(out_dir), stats, reused=False)


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


class _Split:
    """One output split: packs documents into rows and appends them to its writer, counting every token."""

    def __init__(self, folder: Path, tokenizer: Any, options: dict[str, Any]) -> None:
        self.writer = SavedDatasetWriter(folder)
        self.seq_len, self.packed = options["seq_len"], options["packed"]
        self.special = SpecialIds(cls=tokenizer.cls_token_id, sep=tokenizer.sep_token_id, pad=tokenizer.pad_token_id)
        self.packer = StreamPacker(self.seq_len, self.special)
        self.counts = {"documents": 0, "corpus_tokens": 0, "rows": 0, "content_tokens_in_rows": 0, "padding": 0}

    def add(self, ids: np.ndarray, words: np.ndarray, offsets: np.ndarray) -> None:
        self.counts["documents"] += len(offsets) - 1
        self.counts["corpus_tokens"] += len(ids)
        rows = self.packer.add(ids, words, offsets) if self.packed else split_documents(ids, words, offsets, self.seq_len, self.special)
        self._write(rows)

    def close(self, fingerprint: str) -> dict[str, int]:
        if self.packed:
            self._write(self.packer.finish())
        self.writer.close(fingerprint)
        assert self.counts["content_tokens_in_rows"] == self.counts["corpus_tokens"], self.counts  # each token in one row
        return self.counts

    def _write(self, rows: Any) -> None:
        self.counts["rows"] += len(rows)
        self.counts["content_tokens_in_rows"] += int((rows.special_tokens_mask == 0).sum())
        self.counts["padding"] += int((rows.attention_mask == 0).sum())
        self.writer.write(rows)


def _build(
    source: DocumentSource, tokenizer: Any, folder: Path, options: dict[str, Any], num_proc: int, batch_size: int, fingerprint: str,
    segmenter: Segmenter | None, show_progress: bool,
) -> dict[str, Any]:
    """Stream documents -> tokens -> rows into `folder`; return the counts (per split when there are two)."""
    from tqdm.auto import tqdm

    fraction = options["validation_fraction"]
    names = ["train", "validation"] if fraction > 0 else ["train"]
    splits = {name: _Split(folder / name if len(names) > 1 else folder, tokenizer, options) for name in names}
    held_out = SystematicSample(fraction, options["seed"])
    with tqdm(unit=" documents", desc="Preparing", disable=not show_progress) as progress:
        for ids, words, offsets in _token_batches(source, tokenizer, num_proc, batch_size, segmenter):
            ids, words, offsets = _drop_empty(ids, words, offsets)
            progress.update(len(offsets) - 1)
            if fraction == 0:
                splits["train"].add(ids, words, offsets)
                continue
            chosen = held_out.take(len(offsets) - 1)
            for name, keep in (("train", ~chosen), ("validation", chosen)):
                splits[name].add(*_select_documents(ids, words, offsets, keep))
    total = sum(split.counts["documents"] for split in splits.values())
    if sum(split.counts["corpus_tokens"] for split in splits.values()) == 0:
        raise MlmkitError("the input has no tokens (only blank text or special tokens); pass text to prepare")
    if any(split.counts["documents"] == 0 for split in splits.values()):
        raise MlmkitError(
            f"validation fraction {fraction} of {total} documents leaves an empty split; "
            "use more documents or a fraction between 1/documents and 1 - 1/documents"
        )
    stats = {name: split.close(fingerprint) for name, split in splits.items()}
    if len(names) > 1:
        write_split_index(folder, names)
        return stats
    return stats["train"]


class SystematicSample:
    """Which of the next documents are held out: systematic sampling at rate `fraction` from a seeded offset.

    Document i is chosen when floor((i + 1)·f + u) > floor(i·f + u), u ~ U[0, 1) from `seed`: exactly floor
    or ceil of f·n of any first n documents, evenly spread, decided one batch at a time.
    """

    def __init__(self, fraction: float, seed: int) -> None:
        self.fraction, self.seen = fraction, 0
        self.offset = float(np.random.default_rng(seed).random())

    def take(self, count: int) -> np.ndarray:
        """(count,) bool: held out or not, for the next `count` documents."""
        index = np.arange(self.seen, self.seen + count, dtype=np.float64)
        self.seen += count
        return np.floor((index + 1) * self.fraction + self.offset) > np.floor(index * self.fraction + self.offset)


def _token_batches(source: DocumentSource, tokenizer: Any, num_proc: int, batch_size: int, segmenter: Segmenter | None) -> Iterator[TokenizedBatch]:
    if not source.pretokenized:
        return tokenized_batches(tokenizer, source.batches(batch_size), num_proc, segmenter)
    boundaries = WordBoundaries.from_tokenizer(tokenizer)
    return (_pretokenized_batch(batch, tokenizer, boundaries) for batch in source.batches(batch_size))


def _drop_empty(ids: np.ndarray, words: np.ndarray, offsets: np.ndarray) -> TokenizedBatch:
    """Documents with no token (blank text) are not documents: they get no separator and no split slot."""
    lengths = np.diff(offsets)
    if lengths.all():
        return ids, words, offsets
    return ids, words, np.concatenate([[0], np.cumsum(lengths[lengths > 0])])


def _select_documents(ids: np.ndarray, words: np.ndarray, offsets: np.ndarray, keep: np.ndarray) -> TokenizedBatch:
    """The documents where `keep` (D,) is True, in order."""
    lengths = np.diff(offsets)
    tokens = np.repeat(keep, lengths)
    return ids[tokens], words[tokens], np.concatenate([[0], np.cumsum(lengths[keep])])


def _pretokenized_batch(batch: list[list[int]], tokenizer: Any, boundaries: WordBoundaries) -> TokenizedBatch:
    """Word ids for documents given only as ids, derived from the ids by the tokenizer's rules.

    Special ids already in the documents (a [CLS]/[SEP] the user's tokenizer added) are dropped:
    packing adds its own. Documents go into one row with a non-maskable slot between them, so
    words restart at every document.
    """
    import torch

    lengths = np.array([len(ids) for ids in batch], dtype=np.int64)
    flat = np.fromiter(itertools.chain.from_iterable(batch), np.int64, int(lengths.sum()))
    if len(flat) and flat.max() >= len(tokenizer):
        raise MlmkitError(
            f"the dataset's input_ids go up to {flat.max()} but the tokenizer has {len(tokenizer)} tokens; "
            "pass the tokenizer the ids were made with"
        )
    document = np.repeat(np.arange(len(lengths)), lengths)
    keep = ~np.isin(flat, special_token_ids(tokenizer))
    flat, document = flat[keep], document[keep]
    positions = np.arange(len(flat)) + document
    row, maskable = np.zeros(len(flat) + len(lengths), np.int64), np.zeros(len(flat) + len(lengths), bool)
    row[positions], maskable[positions] = flat, True
    words = boundaries(torch.from_numpy(row)[None], torch.from_numpy(maskable)[None])[0].numpy()[positions]
    kept = np.bincount(document, minlength=len(lengths))
    return flat.astype(np.int32), words.astype(np.int32), np.concatenate([[0], np.cumsum(kept)])


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
    return PreparedData(_load(out_dir), Path(out_dir), record["stats"], reused=True)


def _load(out_dir: str | Path) -> Any:
    import datasets

    return datasets.load_from_disk(str(out_dir))


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

