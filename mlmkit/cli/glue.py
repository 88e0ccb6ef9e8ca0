"""`mlmkit glue`: fine-tune a checkpoint on GLUE tasks and report dev scores."""

from __future__ import annotations

import argparse

from mlmkit.errors import MlmkitError

EXAMPLE = """\
examples:
  mlmkit glue --model runs/tiny-cpu/final --task sst2 --seeds 1,2,3 --out runs/tiny-cpu/glue
      (the SST-2 sample shipped with mlmkit; no --data-dir needed)
  mlmkit glue --model runs/bert/final --task rte,stsb --data-dir glue_data --seeds 1,2,3 --out runs/bert/glue
  mlmkit glue --model runs/bert/final --task all --data-dir glue_data --out runs/bert/glue

--data-dir holds the original GLUE task folders (CoLA/ SST-2/ MRPC/ STS-B/ QQP/ MNLI/ QNLI/ RTE/ WNLI/,
as written by download_glue_data.py), or per task a DatasetDict.save_to_disk folder named after the task
(cola/, sst2/, ...). Defaults per task (batch 32, max length 128, 3 epochs; 5 for MRPC/WNLI,
10 for RTE/STS-B) are in mlmkit/eval/glue/tasks.py. Writes OUT/results.json and OUT/results.md.
"""


def parse_seeds(value: str) -> tuple[int, ...]:
    """A comma-separated list of seeds, `--seeds 1,2,3` (argparse names the option in its error)."""
    try:
        seeds = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected integers separated by commas, e.g. 1,2,3") from None
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one integer, e.g. 1")
    return seeds


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "glue",
        help="fine-tune and evaluate a checkpoint on GLUE",
        description="Fine-tune a checkpoint on GLUE tasks (one run per seed) and score it on their dev sets.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="checkpoint folder (save_pretrained, with its tokenizer) or a Hub id (e.g. bert-base-uncased)")
    parser.add_argument(
        "--task", required=True, help="a task (cola sst2 mrpc stsb qqp mnli qnli rte wnli), a list t1,t2, or all"
    )
    parser.add_argument("--data-dir", help="folder holding the GLUE task folders (CoLA/, SST-2/, ...); "
                        "default: the SST-2 sample shipped with mlmkit (20,000 training rows, the full dev set)")
    parser.add_argument("--out", required=True, help="output folder for results.json and results.md")
    parser.add_argument("--seeds", type=parse_seeds, default=(1,), help="fine-tuning seeds, one run each (default: 1)")
    parser.add_argument("--epochs", type=float, help="training epochs (may be fractional); default: per task")
    parser.add_argument("--lr", type=float, help="peak learning rate; default by model width: 1e-3 up to hidden size 128, "
                        "1e-4 up to 512, else BERT's 2e-5 (mlmkit/eval/glue/run.py, LR_BY_WIDTH)")
    parser.add_argument("--batch-size", type=int, help="training batch size; default: per task")
    parser.add_argument("--max-length", type=int, help="max tokens per example; default: 128")
    parser.add_argument("--max-train-samples", type=int, help="train on a fixed random subset of this many rows")
    parser.add_argument("--max-eval-samples", type=int, help="evaluate on the first N dev rows")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlmkit.data.output_folder import check_writable_folder
    from mlmkit.eval.glue import GlueOptions, parse_task_names, run_glue
    from mlmkit.eval.glue.results import write_results

    check_writable_folder(args.out)  # before fine-tuning, not after
    for name in ("epochs", "lr", "batch_size", "max_length", "max_train_samples", "max_eval_samples"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise MlmkitError(f"--{name.replace('_', '-')} {value}: must be positive")
    options = GlueOptions(
        seeds=args.seeds, lr=args.lr, batch_size=args.batch_size, epochs=args.epochs, max_length=args.max_length,
        max_train_samples=args.max_train_samples, max_eval_samples=args.max_eval_samples,
        skip_unavailable=args.task.strip() == "all",
    )
    summary = run_glue(args.model, parse_task_names(args.task), args.data_dir, options)
    print(write_results(args.out, summary), end="")
    return 0
