"""Turn the tokenizer and data sections of a recipe into a tokenizer and train / held-out block datasets.

Everything heavy is mlmkit.data's (train_tokenizer, prepare_dataset); this module only decides
which files and folders a run uses, so a resumed run finds the same tokenizer and blocks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlmkit.config import RunConfig
from mlmkit.errors import MlmkitError


def corpus_files(config: RunConfig) -> list[Path]:
    """The text files the run trains on: data.corpus, else the embedded default corpus."""
    from mlmkit.data.corpus import check_corpus_files, default_corpus_path

    return check_corpus_files(config.data.corpus) if config.data.corpus else [default_corpus_path()]


def resolve_tokenizer(config: RunConfig, output_dir: Path) -> Any:
    """Load tokenizer.path (else model.path's: a continued model keeps its tokenizer), or train one once
    (kept in OUTPUT_DIR/tokenizer, reused on resume).

    It trains on tokenizer.corpus, else on the data's own text: data.dataset, data.corpus or the embedded corpus.
    """
    from mlmkit.data.tokenizer import load_mlm_tokenizer, train_tokenizer

    if config.tokenizer.path or config.model.path:
        return load_mlm_tokenizer(config.tokenizer.path or config.model.path)
    folder = output_dir / "tokenizer"
    if (folder / "tokenizer.json").is_file():
        return load_mlm_tokenizer(folder)
    section, data = config.tokenizer, config.data
    options = {"lowercase": section.lowercase, "overwrite": True}
    if section.corpus or not data.dataset:
        train_tokenizer(list(section.corpus) or corpus_files(config), section.kind, section.vocab_size, folder, **options)
    else:
        train_tokenizer(None, section.kind, section.vocab_size, folder, **options, **_dataset_options(config))
    return load_mlm_tokenizer(folder)


def _dataset_options(config: RunConfig) -> dict[str, Any]:
    data = config.data
    return {"dataset": data.dataset, "dataset_config": data.dataset_config, "split": data.split, "text_column": data.text_column}


def resolve_datasets(config: RunConfig, tokenizer: Any, output_dir: Path) -> tuple[Any, Any]:
    """(train, held-out) block datasets.

    A prepared folder with a `validation` split uses it; a single prepared split holds out its last
    eval_fraction of blocks. Corpus files / the embedded corpus / a `datasets` dataset are prepared
    into data.cache_dir (default OUTPUT_DIR/data) with whole documents held out.
    """
    data = config.data
    if data.path:
        from mlmkit.data.prepared import load_prepared

        try:
            blocks = load_prepared(data.path, tokenizer, data.seq_len)
        except MlmkitError as error:
            raise MlmkitError(f"data.path: {error}") from None
    else:
        from mlmkit.data.pipeline import prepare_dataset

        blocks = prepare_dataset(
            tokenizer,
            seq_len=data.seq_len,
            out_dir=data.cache_dir or output_dir / "data",
            corpus_files=None if data.dataset else corpus_files(config),
            **(_dataset_options(config) if data.dataset else {}),
            num_proc=data.num_proc,
            tokenize_batch_size=data.tokenize_batch_size,
            validation_fraction=data.eval_fraction,
            seed=config.train.seed,
            overwrite=True,
        ).dataset
    train, held_out = _split(blocks, data.eval_fraction)
    return train, held_out.select(range(min(len(held_out), data.max_eval_blocks)))


def _split(blocks: Any, fraction: float) -> tuple[Any, Any]:
    if hasattr(blocks, "keys"):
        if "train" in blocks and "validation" in blocks:
            return blocks["train"], blocks["validation"]
        if "train" not in blocks:
            raise MlmkitError(f"the prepared dataset has splits {list(blocks)}; it needs 'train' (and 'validation')")
        blocks = blocks["train"]
    held_out = max(1, round(len(blocks) * fraction))
    if len(blocks) - held_out < 1:
        raise MlmkitError(f"only {len(blocks)} blocks: too few to hold out {held_out} for evaluation; use more text")
    return blocks.select(range(len(blocks) - held_out)), blocks.select(range(len(blocks) - held_out, len(blocks)))
