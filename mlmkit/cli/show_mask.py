"""`mlmkit show-mask`: print a text with the units a masking strategy chose highlighted."""

from __future__ import annotations

import argparse
import sys

from mlmkit.errors import MlmkitError

EXAMPLE = """\
example:
  mlmkit show-mask --strategy whole_word --tokenizer runs/tok "The philammon of Thrace sang."
  mlmkit show-mask --strategy span --tokenizer runs/tok --rate 0.4 --seed 3 -o geometric_p=0.3 "some text"
  mlmkit show-mask --strategy pmi --tokenizer runs/tok --stats stats/pmi.safetensors "some text"

Masked units are shown in colour in a terminal and in [brackets] when the output is piped (--colour
overrides). Any option of the strategy or the collator can be given with -o KEY=VALUE (values read as
YAML: 0.3, true, text); --stats FILE is short for -o stats=FILE. The last lines say how many tokens were
masked and what the model sees after 80/10/10.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "show-mask",
        help="show what a masking strategy masks in a text",
        description="Mask a text with a strategy's collator and print it with the masked units highlighted.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("text", nargs="+", help="the text to mask (several arguments are joined by spaces)")
    parser.add_argument("--strategy", default="random", help="masking strategy, e.g. random, whole_word, span (default: random)")
    parser.add_argument("--tokenizer", required=True, help="tokenizer folder (tokenizer.json / vocab.txt), e.g. a model folder, or a Hub id")
    parser.add_argument("--rate", type=float, default=0.15, help="masking rate, mlm_probability (default: 0.15)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mask (default: 0)")
    parser.add_argument("--stats", help="corpus statistics file for informed strategies (same as -o stats=FILE)")
    parser.add_argument(
        "-o", "--option", action="append", default=[], metavar="KEY=VALUE",
        help="a strategy or collator option, repeatable (e.g. -o geometric_p=0.3)",
    )
    parser.add_argument("--colour", "--color", choices=("auto", "always", "never"), default="auto",
                        help="highlight with ANSI colour: auto = when stdout is a terminal (default)")
    parser.set_defaults(func=run)


def parse_options(pairs: list[str]) -> dict[str, object]:
    """`["geometric_p=0.3"]` -> `{"geometric_p": 0.3}` (values parsed as YAML)."""
    import yaml

    options: dict[str, object] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            raise MlmkitError(f"--option {pair!r}: expected KEY=VALUE, e.g. geometric_p=0.3")
        options[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return options


def run(args: argparse.Namespace) -> int:
    from mlmkit.collators import build_collator
    from mlmkit.masking.preview import preview_mask, render_preview
    from mlmkit.models.loading import load_tokenizer

    options = parse_options(args.option)
    if args.stats is not None:
        options["stats"] = args.stats
    tokenizer = load_tokenizer(args.tokenizer, what="--tokenizer")
    collator = build_collator(args.strategy, tokenizer, mlm_probability=args.rate, seed=args.seed, **options)
    colour = args.colour == "always" or (args.colour == "auto" and sys.stdout.isatty())
    print(render_preview(preview_mask(collator, tokenizer, " ".join(args.text)), colour), end="")
    return 0
