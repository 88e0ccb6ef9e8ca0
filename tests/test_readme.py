"""The README's commands stay true: the main command parses, every `mlmkit X` it shows exists, and
.ci/run runs exactly the README's test command."""

import re
import shlex
import subprocess
from pathlib import Path

from mlmkit.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block_after(marker: str) -> str:
    """The first line of the code block that follows `<!-- marker -->`."""
    after = README.split(f"<!-- {marker} -->", 1)[1]
    return after.split("```", 2)[1].split("\n", 1)[1].strip()


def test_main_command_parses():
    command = _block_after("main-command")
    mlmkit_part = command.split(".venv/bin/mlmkit ", 1)[1]
    args = build_parser().parse_args(shlex.split(mlmkit_part))
    assert args.command == "compare" and callable(args.func)


def test_every_mlmkit_command_in_the_readme_exists():
    # Commands as written in code: at a line start, after a backtick or after .venv/bin/.
    shown = set(re.findall(r"(?:^|`|/)mlmkit ([a-z][a-z0-9-]+)", README, flags=re.MULTILINE))
    assert "compare" in shown and "pretrain" in shown
    unknown = shown - set(COMMANDS)
    assert not unknown, f"README shows commands that do not exist: {unknown}"


def test_ci_runs_the_readme_test_command():
    extract = (ROOT / ".ci" / "run").read_text(encoding="utf-8").split("test_command=$(", 1)[1].split(")\n", 1)[0]
    printed = subprocess.run(["bash", "-c", extract], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert printed.strip() == _block_after("test-command")


def test_quick_start_runs_as_written(tmp_path, monkeypatch):
    """The README's Python quick start, executed as it stands (fewer steps), trains and saves nothing wrong."""
    code = README.split("<!-- quick-start -->", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    assert "max_steps=100" in code
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code.replace("max_steps=100", "max_steps=3"), "README quick start", "exec"), namespace)
    assert type(namespace["model"]).__name__ == "ModernBertForMaskedLM"
    assert (tmp_path / "qs-blocks").is_dir() and (tmp_path / "qs-tokenizer" / "tokenizer.json").is_file()


def test_the_readme_family_switches_pass_dry_run(tmp_path, capsys):
    """`mlmkit pretrain ... model.family=X` lines of the README (Model families) build the model they name."""
    from mlmkit.cli import main

    lines = [line.split("#")[0] for line in README.splitlines() if line.startswith("mlmkit pretrain ") and "model.family=" in line]
    assert len(lines) >= 2
    for line in lines:
        argv = shlex.split(line)[1:]
        assert main([*argv, f"output_dir={tmp_path}", "--dry-run"]) == 0, line
        family = next(arg for arg in argv if arg.startswith("model.family=")).split("=", 1)[1]
        assert f"new: model.family {family}" in capsys.readouterr().out
