"""`mlmkit compare`: pretrain one model per masking strategy under one budget and evaluate them alike."""

from __future__ import annotations

import argparse

import yaml

from mlmkit.cli.glue import parse_seeds
from mlmkit.errors import MlmkitError

EXAMPLE = """\
examples:
  mlmkit compare --out runs/demo
      the demo: random vs span masking on the embedded WikiText corpus, the tiny-cpu model (a
      2-layer ModernBERT, 30% masking) for {steps} steps each, then SST-2 (the sample shipped with
      mlmkit) with 3 fine-tuning seeds per model and a no-pretraining control; a few minutes on 2 CPU cores
  mlmkit compare --strategies random,whole_word,span,pmi,informask,rom --corpus my_corpus.txt \\
      --minutes 10 --glue-tasks sst2,mrpc,rte --glue-data-dir glue_data --seeds 1,2,3,4,5 --out runs/shootout
  mlmkit compare --strategies random,span --option span.geometric_p=0.3 --option random.mlm_probability=0.4 ...
  mlmkit compare --strategies random --family bert --late-mask random --option random+late_mask.mlm_probability=0.5 ...
      adds "random+late_mask": a 3ML late-mask BERT (Liao et al. 2022) trained with the random collator at
      3ML's 50%, beside the standard BERT at --mlm-probability

Every strategy gets the same tokenizer, data, data order, initialisation, steps and optimiser; only
the collator differs (and, for --late-mask runs, the model: the [MASK]s join only its last layers;
their speed shows as CPU ms/step in the report, since every run gets the same steps). Held-out MLM
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
    from mlmkit.compare.options import CompareOptions

    parser = subparsers.add_parser(
        "compare",
        help="pretrain and evaluate several masking strategies under one budget",
        description="Pretrain one model per masking strategy with everything else identical, score all of "
        "them on the same held-out masking and GLUE tasks, and write a report with plots.",
        epilog=EXAMPLE.format(steps=CompareOptions.max_steps),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = CompareOptions()  # the defaults live in the dataclass only

    def listed(values: tuple) -> str:
        return ",".join(str(value) for value in values)

    parser.add_argument("--strategies", type=_names, default=d.strategies,
                        help=f"strategies to compare, comma-separated; the first is the reference (default: {listed(d.strategies)})")
    parser.add_argument("--corpus", nargs="+", default=d.corpus, metavar="FILE",
                        help="text files to pretrain on (default: the embedded WikiText corpus)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--max-steps", type=int, default=d.max_steps, help=f"optimizer steps per strategy (default: {d.max_steps})")
    budget.add_argument("--minutes", type=float,
                        help="wall-clock minutes per strategy, turned into one step count for all by a short timing probe")
    parser.add_argument("--model-size", default=d.model_size, help=f"tiny|mini|small|medium|base|large (default: {d.model_size})")
    parser.add_argument("--family", default=d.family, help=f"modernbert|bert|roberta (default: {d.family}; --late-mask needs bert or roberta)")
    parser.add_argument("--seq-len", type=int, default=d.seq_len, help=f"tokens per block (default: {d.seq_len})")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help=f"pretraining batch size (default: {d.batch_size})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"peak pretraining learning rate (default: {d.lr})")
    parser.add_argument("--vocab-size", type=int, default=d.vocab_size,
                        help=f"WordPiece vocabulary trained on the corpus (default: {d.vocab_size})")
    parser.add_argument("--mlm-probability", type=float, default=d.mlm_probability,
                        help=f"masking rate of every strategy (default: {d.mlm_probability})")
    parser.add_argument("--option", action="append", default=[], metavar="STRATEGY.KEY=VALUE",
                        help="an option of one strategy's collator, e.g. span.geometric_p=0.3 (repeatable; "
                        "STRATEGY+late_mask.KEY sets it for the late-mask run only)")
    parser.add_argument("--late-mask", type=_names, default=d.late_mask, metavar="STRATEGIES",
                        help="strategies to also run as 3ML late-mask models (with --family bert or roberta), comma-separated; "
                        "each adds a run STRATEGY+late_mask with exact 80/10/10 counts per row (default: none)")
    parser.add_argument("--late-layers", type=int,
                        help="layers the [MASK]s join for in --late-mask runs (default: 2, at most half the model's layers)")
    parser.add_argument("--glue-tasks", type=_names, default=d.glue_tasks, help=f"GLUE tasks (default: {listed(d.glue_tasks)})")
    parser.add_argument("--glue-data-dir", help="folder with the GLUE task folders (default: the SST-2 sample shipped with mlmkit)")
    parser.add_argument("--max-train-samples", type=int, default=d.max_train_samples,
                        help=f"GLUE training rows per task (default: {d.max_train_samples or 'all'})")
    parser.add_argument("--max-eval-samples", type=int, default=d.max_eval_samples, help="GLUE dev rows per task (default: all)")
    parser.add_argument("--glue-epochs", type=float, default=d.glue_epochs,
                        help=f"GLUE fine-tuning epochs (default: {d.glue_epochs or 'per task'})")
    parser.add_argument("--glue-lr", type=float, default=d.glue_lr,
                        help="GLUE fine-tuning peak LR (default: by model width, as `mlmkit glue`: 1e-3 for tiny models)")
    parser.add_argument("--seeds", type=parse_seeds, default=d.seeds,
                        help=f"GLUE fine-tuning seeds of every model, as in `mlmkit glue` (default: {listed(d.seeds)})")
    parser.add_argument("--pretrain-seeds", type=parse_seeds, default=d.pretrain_seeds,
                        help="pretraining seeds: one run per strategy and seed, each with its own initialisation, data "
                        f"order and masks, shared by all strategies (default: {listed(d.pretrain_seeds)})")
    parser.add_argument("--out", default=d.out, help=f"output folder (default: {d.out})")
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
    from mlmkit.compare.run import run_comparison
    from mlmkit.compare.options import CompareOptions

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
