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

A metric that is undefined for a run (Pearson/Spearman or MCC of constant predictions: NaN) is
written as `null`, never as a bare NaN (which is not JSON); medians and scores leave it out, and
`notes` says which were left out. A task with no defined metric is left out of the GLUE score.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from mlmkit.eval.glue.tasks import TASKS

# per_seed: task -> seed -> eval name -> metric -> value
PerSeed = dict[str, dict[int, dict[str, dict[str, float]]]]


def _defined(value: float | None) -> float | None:
    """`value`, or None where it is undefined (NaN or infinite)."""
    return value if value is not None and math.isfinite(value) else None


def _median(values: list[float | None]) -> float | None:
    defined = [value for value in values if _defined(value) is not None]
    return statistics.median(defined) if defined else None


def _mean(values: list[float | None]) -> float | None:
    defined = [value for value in values if value is not None]
    return statistics.fmean(defined) if defined else None


def _medians(runs: dict[int, dict[str, dict[str, float]]]) -> dict[str, dict[str, float | None]]:
    """eval name -> metric -> median over the seeds where it is defined (None if it never is)."""
    first = next(iter(runs.values()))
    return {
        name: {metric: _median([run[name][metric] for run in runs.values()]) for metric in metrics}
        for name, metrics in first.items()
    }


def task_score(medians: dict[str, dict[str, float | None]]) -> float | None:
    """Mean over the task's evaluation sets of the mean of their defined metrics (None if none is)."""
    return _mean([_mean(list(metrics.values())) for metrics in medians.values()])


def _undefined_notes(name: str, runs: dict[int, dict[str, dict[str, float]]]) -> list[str]:
    """One note per metric of eval set `name` that is undefined for some seed, naming the seeds."""
    notes = []
    for metric in next(iter(runs.values()))[name]:
        seeds = [str(seed) for seed, run in runs.items() if _defined(run[name][metric]) is None]
        if seeds:
            notes.append(f"{name} {metric} is undefined for seed(s) {', '.join(seeds)} (e.g. constant predictions); left out of the median and scores")
    return notes


def summarize(model: str, per_seed: PerSeed, details: dict[str, dict], skipped: dict[str, str]) -> dict:
    """Build the `results.json` dictionary from the per-seed scores of each task that ran."""
    results, seeds_out, task_scores, notes = {}, {}, {}, []
    for task, runs in per_seed.items():
        medians = _medians(runs)
        results.update(medians)
        for name in medians:
            seeds_out[name] = {str(seed): {k: _defined(v) for k, v in run[name].items()} for seed, run in runs.items()}
            notes += _undefined_notes(name, runs)
        task_scores[task] = task_score(medians)
    scored = [task for task, score in task_scores.items() if score is not None]
    return {
        "model": model,
        "seeds": sorted({seed for runs in per_seed.values() for seed in runs}),
        "results": results,
        "per_seed": seeds_out,
        "task_scores": task_scores,
        "glue_score": _mean([task_scores[task] for task in scored]),
        "glue_score_tasks": scored,
        "complete": set(scored) == set(TASKS),
        "skipped": skipped,
        "notes": notes,
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
            values = [summary["per_seed"][name].get(seed, {}).get(metric, "") for seed in seeds]
            cells = [_percent(value) for value in values]
            lines.append(f"| {name} | {metric} | " + " | ".join(cells) + f" | {_percent(median)} |")
    tasks = ", ".join(summary["glue_score_tasks"])
    partial = "" if summary["complete"] else f" (partial: over {tasks} only; not comparable to published scores)"
    lines += ["", f"GLUE score: {_percent(summary['glue_score'])}{partial}"]
    lines += [f"skipped {task}: {reason}" for task, reason in summary["skipped"].items()]
    lines += [f"note: {note}" for note in summary.get("notes", [])]
    return "\n".join(lines) + "\n"


def _percent(value: float | None | str) -> str:
    """A cell: percentage, "undefined" for None, empty for a missing seed ("")."""
    if value == "":
        return ""
    return "undefined" if value is None else f"{100 * value:.2f}"


def write_results(out_dir: str | Path, summary: dict) -> str:
    """Write OUT/results.json and OUT/results.md; return the Markdown text."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    table = markdown_table(summary)
    (out / "results.md").write_text(table, encoding="utf-8")
    return table
