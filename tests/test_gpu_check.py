"""benchmarks/gpu_check.py --smoke: the one-shot device check keeps working on a CPU, without `datasets` (the GPU
machine it is made for has none), and writes its table and JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_smoke_measures_every_strategy_without_datasets(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\nsys.modules['datasets'] = None  # not installed, as on the GPU machine\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    blocked = subprocess.run([sys.executable, "-c", "import datasets"], env=env, capture_output=True, text=True)
    assert blocked.returncode != 0 and "datasets" in blocked.stderr
    command = [sys.executable, "benchmarks/gpu_check.py", "--smoke", "--out-dir", str(tmp_path / "out"), "--workdir", str(tmp_path / "work")]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    rows = {row["case"]: row for row in report["rows"]}
    assert set(rows) == {"hf", "dense", "sparse_compiled", "late_mask", "modernbert"}
    for row in rows.values():
        assert row["status"] == "ok" and row["seq_len"] == 64 and row["steps"] == 2, row
        assert row["tokens_per_s"] > 0 and 0 <= row["loader_wait_share"] < 1 and row["mfu"] is None  # no peak known for a CPU
    # The same model with the dense head counts the same FLOPs under Trainer and in mlmkit's step; the sparse head fewer.
    assert rows["dense"]["flops_per_token"] == pytest.approx(rows["hf"]["flops_per_token"], rel=1e-3)
    assert rows["sparse_compiled"]["flops_per_token"] < 0.8 * rows["dense"]["flops_per_token"]
    table = (tmp_path / "out" / "gpu_check.md").read_text()
    assert table.count("| ok |") == 5 and "## Targets (issue 22)" in table and "(d) / (b) step time at 512: not measured" in table
    assert result.stdout.count("| ok |") >= 2 * 5  # each row printed as it came, then the whole table


def test_a_case_past_its_time_box_becomes_a_row_and_the_run_goes_on(tmp_path: Path) -> None:
    command = [sys.executable, "benchmarks/gpu_check.py", "--smoke", "--cases", "dense,late_mask", "--time-box-scale", "0.0125",
               "--out-dir", str(tmp_path / "out"), "--workdir", str(tmp_path / "work")]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = json.loads((tmp_path / "out" / "gpu_check.json").read_text())["rows"]
    assert [(row["case"], row["status"].split(":")[0]) for row in rows] == [("dense", "timeout after 1 s"), ("late_mask", "timeout after 1 s")]
    assert "| (b) | mlmkit step, dense head | 64 |" in (tmp_path / "out" / "gpu_check.md").read_text()
