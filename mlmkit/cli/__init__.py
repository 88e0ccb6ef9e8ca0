"""The `mlmkit` command: one subcommand per module in this package.

Each module exposes `register(subparsers)`, which adds its parser and sets `func` to a
function taking the parsed arguments and returning an exit code. Modules import heavy
libraries (torch, transformers) inside that function so that `mlmkit --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from mlmkit.errors import MlmkitError

# Subcommand name -> module that registers it. Order is the order shown in --help.
COMMANDS: dict[str, str] = {
    "show-mask": "mlmkit.cli.show_mask",
    "tokenizer": "mlmkit.cli.tokenizer",
    "data": "mlmkit.cli.data",
    "pretrain": "mlmkit.cli.pretrain",
    "recipes": "mlmkit.cli.recipes",
    "plot": "mlmkit.cli.plot",
    "glue": "mlmkit.cli.glue",
    "squad": "mlmkit.cli.squad",
    "seq2seq": "mlmkit.cli.seq2seq",
    "compare": "mlmkit.cli.compare",
    "stats": "mlmkit.cli.stats",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlmkit",
        description="Pretrain masked language models with the masking strategy of your choice, "
        "then evaluate them on GLUE and SQuAD.",
        epilog="Example: mlmkit tokenizer train --corpus corpus.txt --kind wordpiece --vocab-size 8000 --out tok/\n"
        "Run `mlmkit COMMAND --help` for the options of each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = _parse(parser, argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except MlmkitError as error:
        print(f"mlmkit {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a reader that stopped early (`mlmkit recipes | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 0


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse argv; `key=value` overrides may stand anywhere, also after options (`pretrain R --dry-run a=b`)."""
    args, extras = parser.parse_known_args(argv)
    overrides = [extra for extra in extras if "=" in extra and not extra.startswith("-")]
    if extras and (len(overrides) < len(extras) or not hasattr(args, "overrides")):
        hint = _setting_hint(extras) if hasattr(args, "overrides") else ""
        _command_parser(parser, getattr(args, "command", None)).error(f"unrecognized arguments: {' '.join(extras)}{hint}")
    if overrides:
        args.overrides = [*args.overrides, *overrides]
    return args


def _command_parser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    """The subcommand's own parser (its usage line and `mlmkit NAME:` prefix in errors), else the top one."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        if command in getattr(action, "choices", {}):
            return action.choices[command]
    return parser


def _setting_hint(extras: list[str]) -> str:
    """'; settings are KEY=VALUE overrides: did you mean train.max_steps=5?' for `--max-steps 5`, if a setting has that name."""
    from mlmkit.config import setting_keys

    for index, extra in enumerate(extras):
        name, _, value = extra.removeprefix("--").partition("=")
        if not extra.startswith("--"):
            continue
        keys = [key for key in setting_keys() if key.rsplit(".", 1)[-1] == name.replace("-", "_")]
        if keys:
            if not value and index + 1 < len(extras) and not extras[index + 1].startswith("-"):
                value = extras[index + 1]
            return f"; settings are KEY=VALUE overrides: did you mean {keys[0]}={value or 'VALUE'}?"
    return ""


if __name__ == "__main__":
    sys.exit(main())
