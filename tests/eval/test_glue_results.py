"""GLUE summary: medians over seeds, task scores, the GLUE score convention, the Markdown table."""

from __future__ import annotations

import json

import pytest

from mlmkit.eval.glue.results import markdown_table, summarize, write_results

# BERT-large's GLUE leaderboard row (percent; remembered, not re-checked against the site):
# CoLA 60.5, SST-2 94.9, MRPC 89.3/85.4, STS-B 87.6/86.5, QQP 72.1/89.3, MNLI-m 86.7,
# MNLI-mm 85.9, QNLI 92.7, RTE 70.1, WNLI 65.1 -> score 80.5.
BERT_LARGE = {
    "cola": {"cola": {"matthews_correlation": 60.5}},
    "sst2": {"sst2": {"accuracy": 94.9}},
    "mrpc": {"mrpc": {"f1": 89.3, "accuracy": 85.4}},
    "stsb": {"stsb": {"pearson": 87.6, "spearmanr": 86.5}},
    "qqp": {"qqp": {"f1": 72.1, "accuracy": 89.3}},
    "mnli": {"mnli_m": {"accuracy": 86.7}, "mnli_mm": {"accuracy": 85.9}},
    "qnli": {"qnli": {"accuracy": 92.7}},
    "rte": {"rte": {"accuracy": 70.1}},
    "wnli": {"wnli": {"accuracy": 65.1}},
}


def _as_fractions(run: dict) -> dict:
    return {name: {metric: value / 100 for metric, value in metrics.items()} for name, metrics in run.items()}


def test_glue_score_convention_reproduces_the_leaderboard():
    per_seed = {task: {1: _as_fractions(run)} for task, run in BERT_LARGE.items()}
    summary = summarize("bert-large", per_seed, {}, {})
    assert summary["complete"] is True
    assert summary["task_scores"]["mnli"] == pytest.approx((0.867 + 0.859) / 2)
    assert summary["task_scores"]["mrpc"] == pytest.approx((0.893 + 0.854) / 2)
    assert round(100 * summary["glue_score"], 1) == 80.5


def test_median_over_seeds_per_metric_and_partial_score(tmp_path):
    per_seed = {
        "rte": {1: {"rte": {"accuracy": 0.5}}, 2: {"rte": {"accuracy": 0.7}}, 3: {"rte": {"accuracy": 0.6}}},
        "stsb": {
            1: {"stsb": {"pearson": 0.8, "spearmanr": 0.1}},
            2: {"stsb": {"pearson": 0.2, "spearmanr": 0.3}},
            3: {"stsb": {"pearson": 0.4, "spearmanr": 0.9}},
        },
    }
    summary = summarize("m", per_seed, {}, {"qnli": "qnli: no training file"})
    assert summary["results"] == {"rte": {"accuracy": 0.6}, "stsb": {"pearson": 0.4, "spearmanr": 0.3}}
    assert summary["per_seed"]["rte"] == {"1": {"accuracy": 0.5}, "2": {"accuracy": 0.7}, "3": {"accuracy": 0.6}}
    assert summary["seeds"] == [1, 2, 3]
    assert summary["glue_score"] == pytest.approx((0.6 + 0.35) / 2)
    assert summary["complete"] is False

    table = write_results(tmp_path, summary)
    assert json.loads((tmp_path / "results.json").read_text())["glue_score"] == pytest.approx(0.475)
    assert (tmp_path / "results.md").read_text() == table == markdown_table(summary)
    assert "| rte | accuracy | 50.00 | 70.00 | 60.00 | 60.00 |" in table
    assert "| stsb | spearmanr | 10.00 | 30.00 | 90.00 | 30.00 |" in table
    assert "GLUE score: 47.50 (partial: over rte, stsb only" in table
    assert "skipped qnli: qnli: no training file" in table
