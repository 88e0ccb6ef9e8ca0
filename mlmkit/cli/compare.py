"""`mlmkit compare`: pretrain one model per masking strategy under one budget and evaluate them alike."""

from __future__ import annotations

import argparse

import yaml

from mlmkit.cli.glue import parse_seeds
from mlmkit.errors import MlmkitError

EXAMPLE = """\
examples:
  mlmkit compare --out runs/demo
      the demo: random, whole_word and span on the embedded WikiText corpus, 200 steps of a tiny BERT
      each, SST-2 (the sample shipped with mlmkit) for GLUE; a few minutes on 2 CPU cores
  mlmkit compare --strategies random,whole_word,span,pmi,informask,rom --corpus my_corpus.txt \\
      --minutes 10 --glue-tasks sst2,mrpc,rte --glue-data-dir glue_data --seeds 3 --out runs/shootout
  mlmkit compare --strategies random,span --option span.geometric_p=0.3 --option random.mlm_probability=0.4 ...
  mlmkit compare --strategies random --late-mask random --option random+late_mask.mlm_probability=0.5 ...
      adds "random+late_mask": a 3ML late-mask model (papers.md §11) trained with the random collator at
      3ML's 50%, beside standard random masking at 15%

Every strategy gets the same tokenizer, data, data order, initialisation, steps and optimiser; only
the collator differs (and, for --late-mask runs, the model: the [MASK]s join only its last layers;
their speed shows as "pretrain s" in the report, since every run gets the same steps). Held-out MLM
loss/accuracy use one fixed masking for all: random 15%, every selected token a [MASK], one seed.
Writes OUT/report.md, OUT/report.json, OUT/learning_curves.png and OUT/glue.png; rerunning the same
command skips what is finished and resumes an interrupted pretraining.
"""


def _names(value: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected names separated by commas, got {value!r}")
    return names


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="pretrain and evaluate several masking strategies under one budget",
        description="Pretrain one model per masking strategy with everything else identical, score all of "
        "them on the same held-out masking and GLUE tasks, and write a report with plots.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--strategies", type=_names, default=("random", "whole_word", "span"),
                        help="strategies to compare, comma-separated (default: random,whole_word,span)")
    parser.add_argument("--corpus", nargs="+", default=(), metavar="FILE",
                        help="text files to pretrain on (default: the embedded WikiText corpus)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--max-steps", type=int, default=200, help="optimizer steps per strategy (default: 200)")
    budget.add_argument("--minutes", type=float,
                        help="wall-clock minutes per strategy, turned into one step count for all by a short timing probe")
    parser.add_argument("--model-size", default="tiny", help="tiny|mini|small|medium|base|large (default: tiny)")
    parser.add_argument("--family", default="bert", help="bert|roberta (default: bert)")
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per block (default: 128)")
    parser.add_argument("--batch-size", type=int, default=32, help="pretraining batch size (default: 32)")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak pretraining learning rate (default: 1e-3)")
    parser.add_argument("--vocab-size", type=int, default=4000, help="WordPiece vocabulary trained on the corpus (default: 4000)")
    parser.add_argument("--mlm-probability", type=float, default=0.15, help="masking rate of every strategy (default: 0.15)")
    parser.add_argument("--option", action="append", default=[], metavar="STRATEGY.KEY=VALUE",
                        help="an option of one strategy's collator, e.g. span.geometric_p=0.3 (repeatable; "
                        "STRATEGY+late_mask.KEY sets it for the late-mask run only)")
    parser.add_argument("--late-mask", type=_names, default=(), metavar="STRATEGIES",
                        help="strategies to also run as 3ML late-mask models, comma-separated; each adds a run "
                        "STRATEGY+late_mask with exact 80/10/10 counts per row (default: none)")
    parser.add_argument("--late-layers", type=int,
                        help="layers the [MASK]s join for in --late-mask runs (default: 2, at most half the model's layers)")
    parser.add_argument("--glue-tasks", type=_names, default=("sst2",), help="GLUE tasks (default: sst2)")
    parser.add_argument("--glue-data-dir", help="folder with the GLUE task folders (default: the SST-2 sample shipped with mlmkit)")
    parser.add_argument("--max-train-samples", type=int, default=2000, help="GLUE training rows per task (default: 2000)")
    parser.add_argument("--max-eval-samples", type=int, help="GLUE dev rows per task (default: all)")
    parser.add_argument("--glue-epochs", type=float, help="GLUE fine-tuning epochs (default: per task)")
    parser.add_argument("--glue-lr", type=float, default=3e-4,
                        help="GLUE fine-tuning peak LR (default: 3e-4, suited to tiny models; use 2e-5 at base size)")
    parser.add_argument("--seeds", type=parse_seeds, default=(1, 2, 3),
                        help="GLUE fine-tuning seeds of every model, as in `mlmkit glue` (default: 1,2,3)")
    parser.add_argument("--pretrain-seeds", type=parse_seeds, default=(0,),
                        help="pretraining seeds: one run per strategy and seed, each with its own initialisation, data "
                        "order and masks, shared by all strategies (default: 0)")
    parser.add_argument("--out", default="runs/compare", help="output folder (default: runs/compare)")
    parser.set_defaults(func=run)


def parse_strategy_options(pairs: list[str]) -> dict[str, dict[str, object]]:
    """`["span.geometric_p=0.3"]` -> `{"span": {"geometric_p": 0.3}}` (values parsed as YAML)."""
    options: dict[str, dict[str, object]] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        strategy, dot, name = key.partition(".")
        if not separator or not dot or not strategy or not name:
            raise MlmkitError(f"--option {pair!r}: expected STRATEGY.KEY=VALUE, e.g. span.geometric_p=0.3")
        options.setdefault(strategy, {})[name] = yaml.safe_load(value)
    return options


def run(args: argparse.Namespace) -> int:
    from mlmkit.compare.run import CompareOptions, run_comparison

    options = CompareOptions(
        strategies=args.strategies, corpus=tuple(args.corpus), out=args.out, max_steps=args.max_steps,
        minutes=args.minutes, family=args.family, model_size=args.model_size, seq_len=args.seq_len,
        batch_size=args.batch_size, lr=args.lr, vocab_size=args.vocab_size, mlm_probability=args.mlm_probability,
        strategy_options=parse_strategy_options(args.option), late_mask=args.late_mask, late_layers=args.late_layers,
        glue_tasks=args.glue_tasks,
        glue_data_dir=args.glue_data_dir, max_train_samples=args.max_train_samples,
        max_eval_samples=args.max_eval_samples, glue_epochs=args.glue_epochs, glue_lr=args.glue_lr, seeds=args.seeds,
        pretrain_seeds=args.pretrain_seeds,
    )
    run_comparison(options)
    return 0
