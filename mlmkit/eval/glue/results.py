"""Summarise per-seed GLUE dev scores: medians, task scores, the GLUE score, JSON and Markdown.

GLUE score convention (GLUE leaderboard; Wang et al., 2019, §4): a task with two metrics
(MRPC and QQP: F1 and accuracy; STS-B: Pearson and Spearman) scores the mean of the two; MNLI
is one task scoring the mean of its matched and mismatched accuracies; the GLUE score is the
unweighted mean of the task scores of the nine tasks (the diagnostic set AX is not part of it).
As a check, this gives BERT-large's leaderboard score of 80.5 from its per-task leaderboard
numbers (tests/eval/test_glue_results.py; numbers as remembered, not re-checked against the site).
When fewer than nine tasks ran, `glue_score` is the mean over those that did, listed in
`glue_score_tasks`, and `complete` is false: such a number is not comparable to published ones.

Medians over seeds are taken per metric. All values are fractions (0.853), not percentages;
the Markdown table shows percentages.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from mlmkit.eval.glue.tasks import TASKS

# per_seed: task -> seed -> eval name -> metric -> value
PerSeed = dict[str, dict[int, dict[str, dict[str, float]]]]


def _medians(runs: dict[int, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """eval name -> metric -> median over seeds."""
    first = next(iter(runs.values()))
    return {
        name: {metric: statistics.median(run[name][metric] for run in runs.values()) for metric in metrics}
        for name, metrics in first.items()
    }


def task_score(medians: dict[str, dict[str, float]]) -> float:
    """Mean over the task's evaluation sets of the mean of their metrics."""
    return statistics.fmean(statistics.fmean(metrics.values()) for metrics in medians.values())


def summarize(model: str, per_seed: PerSeed, details: dict[str, dict], skipped: dict[str, str]) -> dict:
    """Build the `results.json` dictionary from the per-seed scores of each task that ran."""
    results, seeds_out, task_scores = {}, {}, {}
    for task, runs in per_seed.items():
        medians = _medians(runs)
        results.update(medians)
        for name in medians:
            seeds_out[name] = {str(seed): run[name] for seed, run in runs.items()}
        task_scores[task] = task_score(medians)
    return {
        "model": model,
        "seeds": sorted({seed for runs in per_seed.values() for seed in runs}),
        "results": results,
        "per_seed": seeds_out,
        "task_scores": task_scores,
        "glue_score": statistics.fmean(task_scores.values()),
        "glue_score_tasks": list(task_scores),
        "complete": set(task_scores) == set(TASKS),
        "skipped": skipped,
        "details": details,
    }


def markdown_table(summary: dict) -> str:
    """One row per task and metric: each seed's value, then the median (percentages)."""
    seeds = sorted({seed for runs in summary["per_seed"].values() for seed in runs}, key=int)
    lines = [
        "| task | metric | " + " | ".join(f"seed {seed}" for seed in seeds) + " | median |",
        "|---|---|" + "---:|" * (len(seeds) + 1),
    ]
    for name, metrics in summary["results"].items():
        for metric, median in metrics.items():
            values = [summary["per_seed"][name].get(seed, {}).get(metric) for seed in seeds]
            cells = ["" if value is None else f"{100 * value:.2f}" for value in values]
            lines.append(f"| {name} | {metric} | " + " | ".join(cells) + f" | {100 * median:.2f} |")
    tasks = ", ".join(summary["glue_score_tasks"])
    partial = "" if summary["complete"] else f" (partial: over {tasks} only; not comparable to published scores)"
    lines += ["", f"GLUE score: {100 * summary['glue_score']:.2f}{partial}"]
    lines += [f"skipped {task}: {reason}" for task, reason in summary["skipped"].items()]
    return "\n".join(lines) + "\n"


def write_results(out_dir: str | Path, summary: dict) -> str:
    """Write OUT/results.json and OUT/results.md; return the Markdown text."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    table = markdown_table(summary)
    (out / "results.md").write_text(table, encoding="utf-8")
    return table
