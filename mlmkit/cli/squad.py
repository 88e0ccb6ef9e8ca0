"""`mlmkit squad`: fine-tune a checkpoint on SQuAD v1.1 / v2.0 and score it with the official metrics."""

from __future__ import annotations

import argparse

EXAMPLE = """example:
  mlmkit squad --model runs/bert/final --version 1.1 \\
      --train ../shared/data/squad/dev-v1.1.articles-00-23.json --split-by-article 0.25 \\
      --max-train-samples 3000 --epochs 1 --max-length 256 --out runs/bert/squad11

writes OUT/predictions.json (id -> answer, "" = no answer), OUT/results.json (exact_match, f1;
v2.0 also HasAns_*/NoAns_*, best_f1, best_f1_thresh), OUT/baseline.json (first-sentence
baseline) and for v2.0 OUT/null_odds.json (the official script's --na-prob-file)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "squad",
        help="fine-tune and evaluate on SQuAD v1.1 / v2.0",
        description="Fine-tune AutoModelForQuestionAnswering from a checkpoint folder on SQuAD JSON and report "
        "the official EM/F1 (v2.0: HasAns/NoAns and the dev-tuned no-answer threshold).",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="checkpoint folder with config.json, weights and tokenizer, or a Hub id (e.g. bert-base-uncased)")
    parser.add_argument("--version", required=True, choices=("1.1", "2.0"), help="SQuAD version")
    parser.add_argument("--train", required=True, help="official-format SQuAD JSON to fine-tune on")
    dev = parser.add_mutually_exclusive_group(required=True)
    dev.add_argument("--dev", help="official-format SQuAD JSON to evaluate on")
    dev.add_argument(
        "--split-by-article", type=float, metavar="FRACTION",
        help="instead of --dev: hold out the last FRACTION of --train's articles as dev (e.g. 0.25)",
    )  # fmt: skip
    parser.add_argument("--out", required=True, help="output folder for predictions.json and results.json")
    parser.add_argument("--max-train-samples", type=int, help="fine-tune on the first N questions only")
    parser.add_argument("--max-eval-samples", type=int, help="evaluate on the first N questions only")
    parser.add_argument("--epochs", type=float, default=2.0, help="epochs, may be fractional; 0 = no fine-tuning (default 2)")
    parser.add_argument("--lr", type=float, default=5e-5, help="peak learning rate (default 5e-5)")
    parser.add_argument("--batch-size", type=int, default=16, help="windows per batch (default 16)")
    parser.add_argument("--max-length", type=int, default=384, help="tokens per window (default 384)")
    parser.add_argument("--doc-stride", type=int, default=128, help="context tokens shared by neighbouring windows (default 128)")
    parser.add_argument("--n-best", type=int, default=20, help="start/end candidates per window (default 20)")
    parser.add_argument("--max-answer-length", type=int, default=30, help="longest answer in tokens (default 30)")
    parser.add_argument(
        "--null-threshold", type=float, default=0.0,
        help="v2.0: answer \"\" when null score - best span score exceeds this (default 0.0; "
        "results.json reports the dev-tuned best_f1_thresh)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=42, help="seed for the QA head, dropout and shuffling (default 42)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlmkit.eval.squad.run import SquadConfig, run_squad

    config = SquadConfig(
        model=args.model, version=args.version, train=args.train, out=args.out, dev=args.dev,
        split_by_article=args.split_by_article, max_train_samples=args.max_train_samples,
        max_eval_samples=args.max_eval_samples, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        max_length=args.max_length, doc_stride=args.doc_stride, n_best=args.n_best,
        max_answer_length=args.max_answer_length, null_threshold=args.null_threshold, seed=args.seed,
    )  # fmt: skip
    run_squad(config)
    return 0
