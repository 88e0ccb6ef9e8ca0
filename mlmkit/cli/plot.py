"""`mlmkit plot RUN_DIR [RUN_DIR ...] --out FILE.png`: loss and accuracy curves of pretraining runs."""

from __future__ import annotations

import argparse

EXAMPLE = """\
example:
  mlmkit plot runs/tiny-cpu runs/tiny-span --out curves.png

Reads RUN_DIR/metrics.jsonl of each run and draws training loss, held-out loss and held-out
accuracy against step and against training seconds (wall-clock, evaluation and checkpoints left out).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="plot loss / accuracy curves of pretraining runs",
        description="Draw the loss and held-out accuracy curves of one or more pretraining runs to a PNG.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="output folders of `mlmkit pretrain`")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlmkit.train.plot import plot_runs

    print(f"wrote {plot_runs(args.runs, args.out)}")
    return 0
