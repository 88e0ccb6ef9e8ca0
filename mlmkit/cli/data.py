"""`mlmkit data prepare`: tokenize a corpus and pack it into fixed-length rows with word ids."""

from __future__ import annotations

import argparse

from mlmkit.data.corpus import CORPUS_FORMATS

EPILOG = """\
Rows (packed, the default; RoBERTa FULL-SENTENCES): documents are joined into one stream with a
separator after each document ([SEP] or </s>), cut into pieces of seq-len - 1 tokens, and each
row starts with [CLS] or <s>. No token is dropped: the last row is padded (attention_mask 0).
With --unpacked every document gets its own rows, [CLS] text [SEP] + padding; a document longer
than seq-len - 2 tokens is split into several rows, never truncated.
Columns: input_ids, attention_mask, special_tokens_mask, word_ids (per row from 0, -1 on special
tokens and padding; a word cut at a row edge is a partial word in both rows). Words are the tokenizer's
word_ids(), with each CJK ideograph a word of its own; --segmenter jieba:lcut gives Chinese text the
segmenter's words instead (Chinese whole-word masking, Cui et al. 2019).
Without --corpus or --dataset the embedded corpus is used (WikiText-2 raw validation, CC BY-SA 3.0).
--corpus takes plain text files; --dataset takes what `datasets` reads: a data file or a folder of them
(.jsonl/.json, .csv/.tsv, .parquet, .arrow, .txt one row per line; .gz/.bz2/.xz/.zst compressed too),
streamed once without a cache copy; a save_to_disk folder; or a Hub dataset name with --dataset-config
and --split (as load_dataset(NAME, CONFIG, split=SPLIT)). One row is one document.
Preparing streams: memory holds a few batches of --tokenize-batch-size documents, never the corpus.
A second run with the same inputs, tokenizer and options reuses --out.

Example:
  mlmkit data prepare --tokenizer tok/ --corpus corpus.txt --seq-len 128 --out data/ --validation-fraction 0.05
  mlmkit data prepare --tokenizer tok/ --dataset docs.jsonl --text-column content --out data/ --num-proc 8
  mlmkit data prepare --tokenizer tok/ --dataset wikitext --dataset-config wikitext-103-raw-v1 --out data/
  python -c "import datasets; print(datasets.load_from_disk('data/'))"
"""


def add_dataset_options(parser: argparse.ArgumentParser) -> None:
    """--text-column, --dataset-config and --split: how to read --dataset (shared with `mlmkit stats`)."""
    parser.add_argument("--text-column", default="text", help="text column of --dataset (default: text)")
    parser.add_argument("--dataset-config", metavar="NAME", help="configuration of a Hub --dataset (e.g. wikitext-103-raw-v1)")
    parser.add_argument("--split", default="train", help="split of --dataset when it has several (default: train)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        help="prepare pretraining data (tokenize, pack, save)",
        description="Prepare masked-LM pretraining data.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    prepare = actions.add_parser(
        "prepare",
        help="tokenize and pack a corpus into --out (datasets.save_to_disk)",
        description="Tokenize a corpus with a fast tokenizer, keep word ids, pack into rows of --seq-len tokens and save.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    prepare.add_argument("--tokenizer", required=True, metavar="DIR", help="fast tokenizer folder with a mask token")
    source = prepare.add_mutually_exclusive_group()
    source.add_argument("--corpus", nargs="+", metavar="FILE", help="UTF-8 text files (default: the embedded WikiText corpus)")
    source.add_argument(
        "--dataset",
        metavar="NAME_OR_PATH",
        help="a data file or folder of them, a save_to_disk folder, or a Hub dataset name; one document per row, "
        "text in --text-column (or token ids in 'input_ids': word ids are then derived from the ids by the tokenizer's rules)",
    )
    prepare.add_argument("--seq-len", type=int, default=128, help="tokens per row, specials included (default: 128)")
    prepare.add_argument("--out", required=True, metavar="DIR", help="output folder")
    prepare.add_argument("--unpacked", action="store_true", help="one document per row (split if long) instead of packing")
    prepare.add_argument("--num-proc", type=int, default=1, help="tokenizer processes (default: 1, which uses the tokenizer's own threads)")
    prepare.add_argument(
        "--tokenize-batch-size", type=int, default=1000, metavar="N", help="documents per tokenizer call (default: 1000)"
    )
    prepare.add_argument("--validation-fraction", type=float, default=0.0, help="share of documents held out as 'validation' (default: 0)")
    prepare.add_argument("--seed", type=int, default=0, help="seed of the validation split (default: 0)")
    prepare.add_argument("--max-position-embeddings", type=int, help="the model's limit; --seq-len must not exceed it")
    prepare.add_argument(
        "--corpus-format", choices=CORPUS_FORMATS, default="auto", help="how files split into documents (default: auto)"
    )
    add_dataset_options(prepare)
    prepare.add_argument("--overwrite", action="store_true", help="replace --out if it was prepared from other inputs")
    prepare.add_argument(
        "--segmenter",
        metavar="MODULE:FUNCTION",
        help="word segmenter for CJK text, a function text -> list of words (e.g. jieba:lcut); default: each ideograph is a word",
    )
    prepare.set_defaults(func=run)


def load_segmenter(spec: str):
    """The function named by "MODULE:FUNCTION" (e.g. "jieba:lcut"), or MlmkitError saying what is wrong."""
    import importlib

    from mlmkit.errors import MlmkitError

    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise MlmkitError(f"--segmenter {spec!r} must be MODULE:FUNCTION, e.g. jieba:lcut")
    try:
        function = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as error:
        raise MlmkitError(f"--segmenter {spec!r} could not be loaded ({error}); install the module (pip install {module_name}) or fix the name") from None
    if not callable(function):
        raise MlmkitError(f"--segmenter {spec!r} is not a function of text")
    return function


def run(args: argparse.Namespace) -> int:
    from mlmkit.data.corpus import default_corpus_path
    from mlmkit.data.pipeline import prepare_dataset
    from mlmkit.data.tokenizer import load_mlm_tokenizer

    tokenizer = load_mlm_tokenizer(args.tokenizer)
    corpus = None if args.dataset else (args.corpus or [default_corpus_path()])
    result = prepare_dataset(
        tokenizer,
        seq_len=args.seq_len,
        out_dir=args.out,
        corpus_files=corpus,
        dataset=args.dataset,
        dataset_config=args.dataset_config,
        packed=not args.unpacked,
        num_proc=args.num_proc,
        tokenize_batch_size=args.tokenize_batch_size,
        validation_fraction=args.validation_fraction,
        seed=args.seed,
        corpus_format=args.corpus_format,
        text_column=args.text_column,
        split=args.split,
        max_position_embeddings=args.max_position_embeddings,
        overwrite=args.overwrite,
        segmenter=load_segmenter(args.segmenter) if args.segmenter else None,
    )
    verb = "reused (same inputs and options)" if result.reused else "saved"
    print(f"{verb} {args.out}: {result.dataset}")
    print(f"counts: {result.stats}")
    return 0
