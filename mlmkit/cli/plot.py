"""`mlmkit plot RUN_DIR [RUN_DIR ...] --out FILE.png`: loss and accuracy curves of pretraining runs."""

from __future__ import annotations

import argparse

EXAMPLE = """\
examples:
  mlmkit plot runs/tiny-cpu                       (writes runs/tiny-cpu/curves.png)
  mlmkit plot runs/tiny-cpu runs/tiny-span --out curves.png

Reads RUN_DIR/metrics.jsonl of each run and draws training loss, held-out loss and held-out
accuracy (the one held-out measure: fixed [MASK]-only masks, with the unigram baseline dashed)
against step and against training seconds (wall-clock, evaluation and checkpoints left out).
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
    parser.add_argument("--out", help="PNG file to write (default: FIRST_RUN_DIR/curves.png)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlmkit.train.plot import plot_runs

    from pathlib import Path

    out = args.out or str(Path(args.runs[0]) / "curves.png")
    print(f"wrote {plot_runs(args.runs, out)}")
    return 0
