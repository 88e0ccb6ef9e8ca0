"""`mlmkit pretrain --dry-run` on every recipe (catches doc drift), CLI errors, and `mlmkit plot`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlmkit.cli import main
from mlmkit.recipes import recipes_folder

RECIPE_DIR = recipes_folder()
RECIPES = sorted(RECIPE_DIR.glob("*.yaml"))


def test_every_recipe_is_found() -> None:
    names = {path.name for path in RECIPES}
    assert {"tiny-cpu.yaml", "bert-base.yaml", "roberta-base.yaml", "mask40.yaml", "academic-24h.yaml"} <= names


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda path: path.name)
def test_dry_run_accepts_every_recipe(recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["pretrain", str(recipe), f"output_dir={tmp_path}", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert f"output_dir: {tmp_path}" in printed and "parameters:" in printed
    assert not any(tmp_path.iterdir())  # a dry run writes nothing


def test_recipe_readme_lists_every_recipe() -> None:
    readme = (RECIPE_DIR / "README.md").read_text(encoding="utf-8")
    for recipe in RECIPES:
        assert f"`{recipe.name}`" in readme, recipe.name


def test_bad_override_is_one_line_and_exit_2(capsys: pytest.CaptureFixture) -> None:
    assert main(["pretrain", str(RECIPE_DIR / "tiny-cpu.yaml"), "train.lrr=1"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "did you mean 'train.lr'?" in error


def test_plot_draws_a_png(tmp_path: Path) -> None:
    runs = []
    for name, slope in (("a", 1.0), ("b", 2.0)):
        run = tmp_path / name
        run.mkdir()
        rows = [{"step": s, "loss": 8 - slope * s / 10, "seconds": s * 0.5} for s in range(1, 11)]
        rows += [{"step": 10, "seconds": 5.0, "eval_loss": 7.0, "eval_accuracy": 0.1 * slope}]
        (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        runs.append(str(run))
    out = tmp_path / "curves.png"
    assert main(["plot", *runs, "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_of_a_folder_without_metrics_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2
    assert "has no metrics.jsonl" in capsys.readouterr().err


def test_overrides_may_follow_options(tmp_path, capsys):
    """`pretrain RECIPE --dry-run key=value`: overrides stand anywhere; anything else unknown is still refused."""
    recipe = RECIPE_DIR / "tiny-cpu.yaml"
    assert main(["pretrain", str(recipe), "--dry-run", f"output_dir={tmp_path / 'x'}", "train.max_steps=7"]) == 0
    out = capsys.readouterr().out
    assert f"output_dir: {tmp_path / 'x'}" in out and "steps: 7" in out
    with pytest.raises(SystemExit):
        main(["pretrain", str(recipe), "--dry-run", "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_pretrain_keeps_library_chatter_in_its_log(tmp_path: Path, small_corpus: Path, capsys: pytest.CaptureFixture) -> None:
    """Every checkpoint used to print accelerate's "Removed shared tensor" warning and a "Writing model
    shards" bar between the training bar's updates."""
    out = tmp_path / "run"
    overrides = ["train.max_steps=4", "train.save_every=2", "train.eval_every=2", f"data.corpus=[{small_corpus}]", f"output_dir={out}"]
    assert main(["pretrain", "tiny-cpu", *overrides]) == 0
    terminal = capsys.readouterr()
    assert "Removed shared tensor" not in terminal.err and "Writing model shards" not in terminal.err
    assert "resolved config" in terminal.err and "final model in" in terminal.out
    assert "Removed shared tensor" in (out / "pretrain.log").read_text(encoding="utf-8")
