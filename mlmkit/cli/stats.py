"""`mlmkit stats STRATEGY`: build the corpus statistics an informed masking strategy needs."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mlmkit.cli.data import add_dataset_options

EPILOG = """\
Each strategy writes one small versioned file (safetensors + JSON header: tokenizer vocab hash, corpus
fingerprint, options). Collators load it with build_collator(STRATEGY, tokenizer, stats=FILE), which
refuses a file built for another tokenizer or strategy. Text files are read one passage per line.

Examples:
  mlmkit stats pmi --corpus wiki.txt --tokenizer tok/ --out pmi.safetensors --min-count 10
  mlmkit stats informask --corpus wiki.txt --tokenizer tok/ --out informask.safetensors
  mlmkit stats rom --dataset data/ --tokenizer tok/ --out rom.safetensors --num-proc 2
  mlmkit stats difference --target-corpus pubmed.txt --general-corpus wiki.txt --tokenizer tok/ \\
      --encoder minilm/ --out difference.safetensors
  mlmkit show-mask --strategy pmi --stats pmi.safetensors --tokenizer tok/ "The United States Air Force ..."
"""


def _add_common(parser: argparse.ArgumentParser, with_corpus: bool = True) -> None:
    parser.add_argument("--tokenizer", required=True, metavar="DIR", help="fast tokenizer folder the collator will use")
    parser.add_argument("--out", required=True, metavar="FILE", help="output statistics file (.safetensors)")
    if with_corpus:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--corpus", nargs="+", metavar="FILE", help="UTF-8 text files, one passage per line")
        source.add_argument(
            "--dataset", metavar="NAME_OR_PATH",
            help="a data file or folder of them (.jsonl .json .csv .parquet .txt, compressed too), a save_to_disk folder "
            "(text, or input_ids + word_ids), or a Hub dataset name",
        )
        add_dataset_options(parser)
        parser.add_argument("--num-proc", type=int, default=None, help="processes tokenising --dataset (default: 1)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="build corpus statistics for pmi, informask, rom, difference masking",
        description="Build the corpus statistics of an informed masking strategy.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    strategies = parser.add_subparsers(dest="strategy", metavar="STRATEGY", required=True)
    kwargs = {"epilog": EPILOG, "formatter_class": argparse.RawDescriptionHelpFormatter}
    pmi = strategies.add_parser("pmi", help="PMI-Masking n-gram vocabulary (Levine et al. 2021)", **kwargs)
    _add_common(pmi)
    pmi.add_argument("--min-count", type=int, default=10, help="keep n-grams seen more than this (default: 10)")
    pmi.add_argument(
        "--vocab-size", type=int, default=None, help="entries, mixed 50/25/12.5/12.5%% by n = 2..5 (default: corpus words / 200, in [1000, 800000])"
    )
    pmi.add_argument("--variant", choices=("standard", "squared"), default="standard", help="PMI_n (paper eq. 3) or p^2 numerator (released lists)")
    pmi.add_argument("--min-score", type=float, default=None, help="drop n-grams scoring at most this (default: 0 for standard)")
    pmi.add_argument("--keep-punctuation", action="store_true", help="allow punctuation-only words inside n-grams")
    informask = strategies.add_parser("informask", help="InforMask token PMI and token-specific rates (Sadeq et al. 2022)", **kwargs)
    _add_common(informask)
    informask.add_argument("--mlm-probability", type=float, default=0.15, help="corpus-level expected masking rate (default: 0.15)")
    informask.add_argument("--window", type=int, default=10, help="co-occurrence window in tokens (default: 10)")
    informask.add_argument("--min-pair-count", type=int, default=3, help="pairs seen fewer times count as PMI 0 (default: 3)")
    informask.add_argument("--uniform-mix", type=float, default=0.1, help="share of the rate that is uniform (default: 0.1)")
    informask.add_argument("--max-rate", type=float, default=0.6, help="cap on any token's rate (default: 0.6)")
    rom = strategies.add_parser("rom", help="ROM term-importance (IDF/BM25) table (Long et al. 2022)", **kwargs)
    _add_common(rom)
    difference = strategies.add_parser("difference", help="Difference-Masking anchors and word similarities (Wilf et al. 2023)", **kwargs)
    _add_common(difference, with_corpus=False)
    difference.add_argument("--target-corpus", nargs="+", required=True, metavar="FILE", help="target-domain text files")
    difference.add_argument("--general-corpus", nargs="+", required=True, metavar="FILE", help="general-domain text files")
    difference.add_argument("--encoder", required=True, metavar="DIR", help="model folder that embeds words (e.g. a MiniLM)")
    difference.add_argument("--num-anchors", type=int, default=20, help="K anchor words by TF-ICF (default: 20)")
    difference.add_argument("--max-words", type=int, default=100_000, help="most frequent target words scored (default: 100000)")
    difference.add_argument("--pooling", choices=("mean", "pooler"), default="mean", help="word embedding (default: mean)")
    difference.add_argument("--device", default=None, help="encoder device (default: cuda if available)")
    parser.set_defaults(func=run)


def _corpus(args: argparse.Namespace) -> Any:
    if args.dataset is None:
        return args.corpus
    from mlmkit.data.sources import open_dataset  # the package's one dataset loader

    dataset = open_dataset(args.dataset, args.split, args.dataset_config)
    columns = dataset.column_names  # None for a stream of JSON rows: columns are known once read
    if args.text_column != "text" and (columns is None or args.text_column in columns):
        dataset = dataset.rename_column(args.text_column, "text")
    return dataset


def run(args: argparse.Namespace) -> int:
    from mlmkit.data.tokenizer import load_mlm_tokenizer
    from mlmkit.stats.artifact import read_header

    tokenizer = load_mlm_tokenizer(args.tokenizer)
    if args.strategy == "difference":
        from mlmkit.stats.difference import build_difference_stats

        options = {"num_anchors": args.num_anchors, "max_words": args.max_words, "pooling": args.pooling}
        path = build_difference_stats(tokenizer, args.target_corpus, args.general_corpus, args.encoder, args.out, args.device, **options)
    else:
        corpus = _corpus(args)
        common = {"num_proc": args.num_proc}
        if args.strategy == "pmi":
            from mlmkit.stats.pmi import build_pmi_stats

            options = {"min_count": args.min_count, "vocab_size": args.vocab_size, "variant": args.variant}
            options.update(min_score=args.min_score, skip_punctuation=not args.keep_punctuation)
            path = build_pmi_stats(tokenizer, corpus, args.out, **common, **options)
        elif args.strategy == "informask":
            from mlmkit.stats.informask import build_informask_stats

            options = {"mlm_probability": args.mlm_probability, "window": args.window, "min_pair_count": args.min_pair_count}
            options.update(uniform_mix=args.uniform_mix, max_rate=args.max_rate)
            path = build_informask_stats(tokenizer, corpus, args.out, **common, **options)
        else:
            from mlmkit.stats.rom import build_rom_stats

            path = build_rom_stats(tokenizer, corpus, args.out, **common)
    print(f"wrote {path}: {json.dumps(read_header(path)['summary'])}")
    return 0
