"""What `pip install mlmkit` gets: recipes and data (with their attribution files) inside the wheel, a
LICENSE that matches pyproject, and extras that say their name when missing."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mlmkit.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    (wheel,) = out.glob("mlmkit-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def test_the_wheel_ships_recipes_data_attribution_and_license(wheel_names):
    recipes = {path.name for path in (ROOT / "mlmkit" / "recipes").glob("*.yaml")}
    assert {f"mlmkit/recipes/{name}" for name in recipes} <= wheel_names and "tiny-cpu.yaml" in recipes
    assert {"mlmkit/recipes/README.md", "mlmkit/recipes/accelerate/ddp.yaml", "mlmkit/recipes/accelerate/fsdp.yaml",
            "mlmkit/recipes/accelerate/deepspeed-zero2.yaml"} <= wheel_names
    assert {"mlmkit/resources/wikitext/wiki.valid.raw", "mlmkit/resources/wikitext/ATTRIBUTION.md",
            "mlmkit/resources/glue/SST-2/train.tsv", "mlmkit/resources/glue/SST-2/SOURCE.md"} <= wheel_names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in wheel_names)
    assert not any(name.startswith(("tests/", "benchmarks/")) for name in wheel_names)
    assert not (ROOT / "recipes").exists()  # one copy of the recipes, the one inside the package


def test_license_file_matches_pyproject():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = "Apache-2.0"' in pyproject and 'license-files = ["LICENSE"]' in pyproject
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_matplotlib_is_an_extra_named_when_missing(tmp_path, capsys, monkeypatch):
    dependencies = (ROOT / "pyproject.toml").read_text(encoding="utf-8").split("dependencies = [", 1)[1].split("]", 1)[0]
    assert "matplotlib" not in dependencies
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 1, "loss": 8.0, "seconds": 1.0}\n')
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed: importing it raises ImportError
    assert main(["plot", str(run), "--out", str(tmp_path / "curves.png")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "pip install 'mlmkit[plot]'" in error
