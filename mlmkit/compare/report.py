"""The comparison's report: report.json (everything), report.md (tables) and PNG plots."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

SCOPE_NOTE = (
    "Toy scale: tiny models, minutes of CPU training and small GLUE subsets. Differences between "
    "strategies here are within what seeds and the short budget can move; use this to check that a "
    "set-up runs and what each strategy masks, and rerun with --minutes, a larger --model-size, more "
    "--seeds and the full GLUE data before drawing conclusions."
)


def write_report(report: dict[str, Any], out: Path) -> None:
    """Write OUT/report.json, OUT/report.md, OUT/learning_curves.png and OUT/glue.png."""
    out.mkdir(parents=True, exist_ok=True)
    report["plots"] = [str(path) for path in (plot_learning_curves(report, out), plot_glue(report, out)) if path]
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    print(f"\nreport: {out / 'report.md'} (also report.json, {', '.join(Path(p).name for p in report['plots'])})")


def markdown(report: dict[str, Any]) -> str:
    """Tables: common held-out MLM evaluation, realised masking, GLUE per task and seed."""
    strategies = report["strategies"]
    options = report["options"]
    lines = [
        "# Masking strategy comparison",
        "",
        f"Model {options['family']}-{options['model_size']}, {report['max_steps']} steps × batch "
        f"{options['batch_size']} × {options['seq_len']} tokens, lr {options['lr']}, seed {options['seed']}; "
        f"same tokenizer, data, order and initialisation for every strategy.",
        *_late_mask_lines(strategies),
        "",
        "## Held-out MLM, common masking",
        f"Every model scored on the same blocks with the same masking ({_describe(report['common_eval'])}).",
        "",
        "| strategy | eval loss | eval accuracy | unigram baseline | pretrain s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, result in strategies.items():
        common = result["common_eval"]
        lines.append(
            f"| {name} | {common['eval_loss']:.4f} | {100 * common['eval_accuracy']:.2f} | "
            f"{100 * common['eval_unigram_accuracy']:.2f} | {result['pretrain_seconds']} |"
        )
    plateau = [name for name, result in strategies.items() if _at_unigram_plateau(result["common_eval"])]
    if plateau:
        lines += [
            "",
            f"{', '.join(plateau)}: accuracy at or below the unigram baseline, i.e. still predicting the most "
            "frequent token rather than from context; compare eval loss, or train longer (--minutes).",
        ]
    lines += [
        "",
        "## What each strategy masked",
        "Measured on held-out blocks with each run's own collator (training rate from metrics.jsonl).",
        "",
        "| strategy | rate (train) | rate (probe) | mean masked run | whole-word share | function-word share |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, result in strategies.items():
        masking = result["masking"]
        train_rate = result["train_masking_rate"]
        lines.append(
            f"| {name} | {'' if train_rate is None else f'{train_rate:.4f}'} | {masking['masking_rate']:.4f} | "
            f"{masking['mean_masked_run']:.2f} | {masking['whole_word_share']:.3f} | {masking['function_word_share']:.3f} |"
        )
    lines += ["", "## GLUE (dev, %)", ""] + _glue_table(strategies) + ["", "## Scope", SCOPE_NOTE, ""]
    return "\n".join(lines)


def _at_unigram_plateau(common: dict[str, Any]) -> bool:
    """Accuracy no better than always predicting the most frequent masked token (within 0.1 point)."""
    return common["eval_accuracy"] <= common["eval_unigram_accuracy"] + 0.001


def _late_mask_lines(strategies: dict[str, Any]) -> list[str]:
    """A sentence on the late-mask runs, when there are any (their rows are named STRATEGY+late_mask)."""
    late = [name for name, result in strategies.items() if result.get("late_layers")]
    if not late:
        return []
    layers = strategies[late[0]]["late_layers"]
    return [
        "",
        f"{', '.join(late)}: 3ML late-mask models (papers.md §11): the [MASK]s join only for the last "
        f"{layers} {'layer' if layers == 1 else 'layers'}, which the fine-tuned encoder drops. Same steps as "
        "the others, so their speed shows in \"pretrain s\".",
    ]


def _describe(common: dict[str, Any]) -> str:
    from mlmkit.eval.held_out import HeldOutMasking

    return HeldOutMasking(**{key: value for key, value in common.items() if key != "name"}).describe()


def _glue_table(strategies: dict[str, Any]) -> list[str]:
    rows = ["| strategy | task | metric | per seed | median |", "|---|---|---|---|---:|"]
    for name, result in strategies.items():
        glue = result["glue"]
        for task, metrics in glue["results"].items():
            for metric, median in metrics.items():
                seeds = glue["per_seed"][task]
                values = ", ".join(f"{100 * seeds[seed][metric]:.2f}" for seed in sorted(seeds, key=int))
                rows.append(f"| {name} | {task} | {metric} | {values} | {100 * median:.2f} |")
        rows.append(f"| {name} | GLUE score | | | {100 * glue['glue_score']:.2f} |")
    return rows


def plot_learning_curves(report: dict[str, Any], out: Path) -> Path | None:
    """Training loss and each run's own held-out accuracy against step, one line per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mlmkit.train.metrics import read_metrics

    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for name, result in report["strategies"].items():
        rows = read_metrics(Path(result["run_dir"]) / "metrics.jsonl")
        train = [row for row in rows if "loss" in row]
        evals = [row for row in rows if "eval_accuracy" in row]
        loss_axis.plot([row["step"] for row in train], [row["loss"] for row in train], label=name)
        accuracy_axis.plot([row["step"] for row in evals], [row["eval_accuracy"] for row in evals], marker="o", label=name)
    loss_axis.set(xlabel="step", ylabel="training MLM loss", title="Training loss (own masking)")
    accuracy_axis.set(xlabel="step", ylabel="held-out MLM accuracy", title="Held-out accuracy (own masking)")
    for axis in (loss_axis, accuracy_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    path = out / "learning_curves.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_glue(report: dict[str, Any], out: Path) -> Path | None:
    """GLUE score per strategy: bar = median over seeds, error bar = min..max of the seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, medians, low, high = [], [], [], []
    for name, result in report["strategies"].items():
        seed_scores = _seed_scores(result["glue"])
        middle = statistics.median(seed_scores)
        names.append(name)
        medians.append(100 * middle)
        low.append(100 * (middle - min(seed_scores)))
        high.append(100 * (max(seed_scores) - middle))
    figure, axis = plt.subplots(figsize=(1.6 * len(names) + 2, 4))
    axis.bar(names, medians, yerr=[low, high], capsize=6, color="tab:blue", alpha=0.8)
    axis.set(ylabel="GLUE score (dev, %)", title="GLUE by strategy (median, seed range)")
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    path = out / "glue.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _seed_scores(glue: dict[str, Any]) -> list[float]:
    """The mean over tasks of each seed's task score (a task's metrics averaged), one value per seed."""
    per_seed = glue["per_seed"]
    seeds = sorted({seed for runs in per_seed.values() for seed in runs}, key=int)
    scores = []
    for seed in seeds:
        task_scores = [statistics.mean(per_seed[task][seed].values()) for task in per_seed if seed in per_seed[task]]
        scores.append(statistics.mean(task_scores))
    return scores
