"""`mlmkit tokenizer train`: train a WordPiece, byte-level BPE or Unigram tokenizer on text files."""

from __future__ import annotations

import argparse

from mlmkit.cli.data import add_dataset_options
from mlmkit.data.corpus import CORPUS_FORMATS
from mlmkit.data.tokenizer import KINDS

EPILOG = """\
Kinds (all split words at whitespace and punctuation the same way, so word ids agree):
  wordpiece  BERT: [CLS] [SEP] [PAD] [UNK] [MASK], ## continuations; --lowercase for "uncased"
  bpe        RoBERTa: byte-level BPE, <s> </s> <pad> <unk> <mask>, lossless round trip
  unigram    SentencePiece/ALBERT: Metaspace (▁), <pad> <unk> [CLS] [SEP] [MASK]

Without --corpus the embedded corpus is used (WikiText-2 raw validation split, 1.1 MB, CC BY-SA 3.0).
A second run with the same corpus contents and options reuses --out.
Corpus files: WikiText raw (one document per article), blank-line separated documents, or one
document per line; see --corpus-format.

Example:
  mlmkit tokenizer train --corpus corpus.txt --kind wordpiece --vocab-size 8000 --lowercase --out tok/
  python -c "from transformers import AutoTokenizer; print(AutoTokenizer.from_pretrained('tok/'))"
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tokenizer",
        help="train a tokenizer (WordPiece, byte-level BPE, Unigram)",
        description="Train a tokenizer and save it as a transformers fast tokenizer folder.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = actions.add_parser(
        "train",
        help="train on text files and save to --out",
        description="Train a tokenizer on text files and save it as a folder AutoTokenizer.from_pretrained loads.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = train.add_mutually_exclusive_group()
    source.add_argument("--corpus", nargs="+", metavar="FILE", help="UTF-8 text files (default: the embedded WikiText corpus)")
    source.add_argument(
        "--dataset", metavar="NAME_OR_PATH", help="a data file or folder of them, a save_to_disk folder, or a Hub dataset name (see `mlmkit data prepare --help`)"
    )
    add_dataset_options(train)
    train.add_argument("--kind", choices=KINDS, default="wordpiece", help="tokenizer kind (default: wordpiece)")
    train.add_argument("--vocab-size", type=int, default=8000, help="vocabulary size, special tokens included (default: 8000)")
    train.add_argument("--out", required=True, metavar="DIR", help="folder to write (must not exist or be empty, unless --overwrite)")
    train.add_argument("--lowercase", action="store_true", help="lowercase the text (BERT uncased; strips accents for wordpiece)")
    train.add_argument("--min-frequency", type=int, default=2, help="merge only pairs seen this often (wordpiece, bpe; default: 2)")
    train.add_argument("--model-max-length", type=int, default=512, help="longest input of models using it (default: 512)")
    train.add_argument(
        "--corpus-format", choices=CORPUS_FORMATS, default="auto", help="how files split into documents (default: auto)"
    )
    train.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    train.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlmkit.data.corpus import default_corpus_path
    from mlmkit.data.tokenizer import train_tokenizer

    corpus = None if args.dataset else (args.corpus or [default_corpus_path()])
    result = train_tokenizer(
        corpus,
        kind=args.kind,
        vocab_size=args.vocab_size,
        out_dir=args.out,
        lowercase=args.lowercase,
        min_frequency=args.min_frequency,
        model_max_length=args.model_max_length,
        corpus_format=args.corpus_format,
        overwrite=args.overwrite,
        dataset=args.dataset,
        text_column=args.text_column,
        split=args.split,
        dataset_config=args.dataset_config,
    )
    verb = "reused (same corpus and options)" if result.reused else "saved"
    tokenizer = result.tokenizer
    print(f"{verb} a {args.kind} tokenizer with {len(tokenizer)} tokens (mask token {tokenizer.mask_token}) in {args.out}")
    return 0
