"""`mlmkit recipes`: list the recipes shipped with mlmkit, one line each."""

from __future__ import annotations

import argparse

EPILOG = """\
Run one by name: mlmkit pretrain NAME [key=value ...] (add --dry-run to check it first).
Copy one to change it: cp "$(mlmkit recipes --path NAME)" my.yaml
Accelerate configs for multi-process runs: mlmkit recipes --path accelerate
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recipes",
        help="list the shipped pretraining recipes",
        description="List the pretraining recipes shipped with mlmkit (run one with `mlmkit pretrain NAME`).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--path", metavar="NAME", help="print the file path of recipe NAME ('accelerate': the Accelerate configs' folder)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlmkit.recipes import recipe_path, recipe_summary, recipes_folder, shipped_recipes

    if args.path == "accelerate":
        print(recipes_folder() / "accelerate")
        return 0
    if args.path:
        print(recipe_path(args.path).resolve())
        return 0
    shipped = shipped_recipes()
    width = max(map(len, shipped))
    for name, path in shipped.items():
        print(f"{name:<{width}}  {recipe_summary(path)}")
    return 0
