"""Shipped recipes run by name, `mlmkit recipes` lists them one line each, a file of your own wins over a name."""

from __future__ import annotations

import pytest
import yaml

from mlmkit.cli import main
from mlmkit.recipes import recipe_path, recipes_folder, shipped_recipes


def test_recipes_lists_every_shipped_recipe_on_one_line(capsys):
    assert main(["recipes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == sorted(path.stem for path in recipes_folder().glob("*.yaml"))
    tiny = next(line for line in lines if line.startswith("tiny-cpu "))
    assert "modernbert-tiny, random 30%, 1500 steps of 32×128" in tiny
    by_name = {line.split()[0]: line for line in lines}  # token budgets read with their unit (was "1.72e+03B")
    assert "1.72T tokens of 96×48×1024" in by_name["modernbert-base"] and "12.1B tokens" in by_name["academic-24h"]
    assert all(len(line) < 200 for line in lines)
    assert not any("`" in line for line in lines)  # descriptions are plain text, cut at a word ("`mlmk…" before)
    assert "the model mlmk…" not in tiny and tiny.endswith("…") and not tiny[:-1].endswith(" ")


def test_pretrain_takes_a_shipped_name(tmp_path, capsys):
    assert main(["pretrain", "tiny-cpu", f"output_dir={tmp_path}", "--dry-run"]) == 0
    assert "max_steps: 1500" in capsys.readouterr().out
    assert main(["recipes", "--path", "tiny-cpu"]) == 0
    assert capsys.readouterr().out.strip() == str(shipped_recipes()["tiny-cpu"].resolve())


def test_a_file_of_your_own_wins_and_unknown_names_fail_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny-cpu").write_text(yaml.safe_dump({"train": {"max_steps": 7}}))
    assert recipe_path("tiny-cpu").resolve() == (tmp_path / "tiny-cpu").resolve()
    assert main(["pretrain", "tiny-cpu", "--dry-run"]) == 0
    assert "max_steps: 7" in capsys.readouterr().out
    assert main(["pretrain", "tiny-gpu", "--dry-run"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "recipe 'tiny-gpu' does not exist: it is neither a file nor a shipped recipe" in error and "tiny-cpu" in error
    with pytest.raises(Exception, match="neither a file nor a shipped recipe"):
        recipe_path("elsewhere/tiny-cpu.yaml")  # a path that does not exist is not a name


def test_output_cut_short_by_a_pipe_is_no_error():
    """`mlmkit recipes | head -1`: the reader stops early; no BrokenPipeError traceback (`true` reads nothing)."""
    import subprocess
    import sys

    result = subprocess.run(
        f"{sys.executable} -m mlmkit recipes | true", shell=True, capture_output=True, text=True, check=True
    )
    assert result.stderr == ""
