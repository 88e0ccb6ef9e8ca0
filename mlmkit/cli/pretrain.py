"""`mlmkit pretrain RECIPE [key=value ...]`: pretrain a masked LM from a shipped recipe or a YAML file."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLE = """\
examples:
  mlmkit pretrain tiny-cpu                      (a shipped recipe; `mlmkit recipes` lists them)
  mlmkit pretrain tiny-cpu train.max_steps=50 output_dir=/tmp/run
  mlmkit pretrain my-recipe.yaml --dry-run
  mlmkit pretrain tiny-cpu --resume
  accelerate launch --multi_gpu --num_processes 2 -m mlmkit pretrain tiny-cpu          (2 GPUs, DDP)
  ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 -m mlmkit pretrain tiny-cpu
      (2 CPU processes, gloo; accelerate runs `--cpu --num_processes 2` as ONE process unless mpirun is set up)
  accelerate launch --config_file "$(mlmkit recipes --path accelerate)/fsdp.yaml" -m mlmkit pretrain roberta-base
      (FSDP; ddp.yaml and deepspeed-zero2.yaml beside it; README "Many processes" has the rest)

Overrides are dotted paths into the recipe (sections tokenizer, data, model, collator, train, and
output_dir, default runs/pretrain), typed by the recipe schema (`mlmkit pretrain RECIPE --dry-run` shows
every setting). Writes OUTPUT_DIR/config.yaml, metrics.jsonl, pretrain.log (library messages),
checkpoints/step-N/ (model/ is a Hugging Face folder) and final/.

--resume continues from the newest checkpoint that verifies (damaged ones are moved aside). It may
change train.max_steps, train.lr and the other fields of CHANGEABLE_ON_RESUME in mlmkit/config.py
(applied for real, recorded as OUTPUT_DIR/config-step-N.yaml); it refuses changes to the tokenizer,
data, model, collator, batch size, accumulation and seed. See README.md, "Resuming".
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pretrain",
        help="pretrain a masked LM (BERT, RoBERTa, ModernBERT, any AutoModelForMaskedLM) from a YAML recipe",
        description="Pretrain a masked language model with Accelerate, as a YAML recipe says.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("recipe", help="a shipped recipe's name (`mlmkit recipes` lists them), e.g. tiny-cpu, or a YAML file")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. train.lr=3e-4")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in output_dir that verifies")
    parser.add_argument("--dry-run", action="store_true", help="check the recipe and print the plan; train nothing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlmkit.config import load_recipe, to_yaml
    from mlmkit.recipes import recipe_path

    config = load_recipe(recipe_path(args.recipe), args.overrides)
    if args.dry_run:
        from mlmkit.train.plan import plan_run

        print(to_yaml(config))
        for key, value in plan_run(config).items():
            print(f"{key}: {value}")
        return 0
    from accelerate import PartialState

    from mlmkit.logs import library_output_to, show_mlmkit_messages
    from mlmkit.train import pretrain

    show_mlmkit_messages()
    # Library chatter (a "Removed shared tensor" warning and a "Writing model shards" bar per checkpoint)
    # goes to the run's log; mlmkit's own lines and the training bar stay on the terminal.
    with library_output_to(Path(config.output_dir) / "pretrain.log", mlmkit_messages=False):
        result = pretrain(config, resume=True if args.resume else None)
    state = PartialState()
    # One line per process: under `accelerate launch` every process reports the loss it agreed on.
    who = f"process {state.process_index}/{state.num_processes}: " if state.num_processes > 1 else ""
    print(f"{who}step {result.step}, last step's loss {result.loss:.6f} (metrics.jsonl logs means over "
          f"train.log_every steps), final model in {result.final_dir}", flush=True)
    return 0
