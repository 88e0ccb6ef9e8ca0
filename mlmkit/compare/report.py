"""The comparison's report: report.json (everything), report.md (verdicts first, then the numbers) and plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlmkit.compare.analysis import MLM_METRICS, analyse

# Shown beside every per-step cost, so that nobody reads it as wall-clock time.
TIMING_NOTE = (
    "Per-step cost is process CPU time (all threads) of training, evaluation and checkpoints left out: "
    "wall-clock time also moves with whatever else the machine runs, CPU time far less."
)


def write_report(report: dict[str, Any], out: Path) -> None:
    """Analyse `report` (from `run_comparison`) and write OUT/report.json, report.md, learning_curves.png, glue.png."""
    from mlmkit.compare.run import CONTROL

    out.mkdir(parents=True, exist_ok=True)
    report["analysis"] = analyse(report, CONTROL)
    report["plots"] = [str(plot_learning_curves(report, out)), str(plot_glue(report, out))]
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    print(f"\nreport: {out / 'report.md'} (also report.json, learning_curves.png, glue.png)")


def markdown(report: dict[str, Any]) -> str:
    """The answer first (verdicts and what to conclude), then curves, then every number with its interval."""
    analysis, options = report["analysis"], report["options"]
    lines = [
        "# Masking strategy comparison",
        "",
        f"{options['family']}-{options['model_size']}, {report['max_steps']} steps × batch {options['batch_size']} × "
        f"{options['seq_len']} tokens, lr {options['lr']}; pretraining seeds {_seeds(options['pretrain_seeds'])}, "
        f"fine-tuning seeds {_seeds(options['seeds'])}. Same tokenizer, data, order and initialisation for every "
        "strategy (per pretraining seed); only the masking differs.",
        "",
        f"## Verdicts against {analysis['reference']}",
        "",
        "Paired differences (strategy − reference) on the same held-out blocks and seeds, with 95% bootstrap "
        "intervals; **better** / **worse** where the interval excludes 0.",
        "",
        *_verdict_table(analysis),
        "",
        "## What to conclude",
        "",
        *[f"- {line}" for line in analysis["conclusions"]],
        *_plateau_lines(report),
        "",
        "## Curves",
        "",
        "![held-out accuracy per step, with the unigram baseline](learning_curves.png)",
        "",
        "![GLUE dev scores per model, seeds and 95% intervals, with the majority class](glue.png)",
        "",
        "## Held-out MLM",
        "",
        f"Every model on the same {report['held_out_blocks']} held-out blocks, one masking for all: {_describe(report['common_eval'])}. "
        "Mean over pretraining seeds and a 95% interval (bootstrap over blocks, and seeds when there are two or more).",
        "",
        *_mlm_table(report),
        "",
        TIMING_NOTE,
        "",
        "## GLUE (dev, %)",
        "",
        *_glue_table(report),
        "",
        "## What each strategy masked",
        "Each run's own collator on held-out blocks (training rate from metrics.jsonl; first pretraining seed).",
        "",
        *_masking_table(report),
        "",
        "## Provenance",
        "",
        f"Tokenizer: {report['tokenizer']['kind']}, {report['tokenizer']['vocab_size']} ids, "
        f"{'lowercased' if report['tokenizer']['lowercase'] else 'cased'} ({report['tokenizer']['path']}). "
        "Library messages of the run: compare.log.",
        "",
    ]
    if "software" in report:  # reports written before versions were recorded have none
        software = report["software"]
        lines[-1:-1] = [f"Software of this report: mlmkit {software['mlmkit']}, torch {software['torch']}, "
                        f"transformers {software['transformers']}, Python {software['python']}."]
    return "\n".join(lines)


def _seeds(seeds: list[int]) -> str:
    return ",".join(str(seed) for seed in seeds)


def _describe(common: dict[str, Any]) -> str:
    from mlmkit.eval.held_out import HeldOutMasking

    return HeldOutMasking(**{key: value for key, value in common.items() if key != "name"}).describe()


def _fraction(value: float) -> str:
    return f"{100 * value:.2f}"


def _cell(entry: dict[str, Any], metric: str) -> str:
    """'mean [low, high]' of a score (percentages; the loss in nats)."""
    interval = entry["interval"]
    if metric == "loss":
        return f"{entry['mean']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"
    return f"{_fraction(entry['mean'])} [{_fraction(interval['low'])}, {_fraction(interval['high'])}]"


def _difference_cell(difference: dict[str, Any] | None, metric: str) -> str:
    if difference is None:
        return ""
    interval = difference["interval"]
    scale, digits = (1.0, 3) if metric == "loss" else (100.0, 2)
    text = f"{scale * interval['estimate']:+.{digits}f} [{scale * interval['low']:+.{digits}f}, {scale * interval['high']:+.{digits}f}]"
    verdict = difference["verdict"]
    return f"{text} {verdict}" if verdict == "not distinguishable" else f"{text} **{verdict}**"  # the signed ones in bold


def _verdict_table(analysis: dict[str, Any]) -> list[str]:
    from mlmkit.compare.run import CONTROL

    glue_metrics = sorted({metric for scores in analysis["glue"].values() for metric in scores})
    header = ["comparison"] + [metric.label for metric in MLM_METRICS] + glue_metrics
    rows = ["| " + " | ".join(header) + " |", "|---|" + "---|" * (len(header) - 1)]
    reference = analysis["reference"]
    for name, scores in analysis["mlm"].items():
        if name == reference:
            continue
        cells = [_difference_cell(scores[m.name].get("vs_reference"), m.name) for m in MLM_METRICS]
        cells += [_difference_cell(analysis["glue"][name].get(g, {}).get("vs_reference"), g) for g in glue_metrics]
        rows.append(f"| {name} − {reference} | " + " | ".join(cells) + " |")
    for name, scores in analysis["glue"].items():
        if name == CONTROL:
            continue
        cells = [""] * len(MLM_METRICS) + [_difference_cell(scores.get(g, {}).get("vs_control"), g) for g in glue_metrics]
        rows.append(f"| {name} − {CONTROL} | " + " | ".join(cells) + " |")
    return rows


def _plateau_lines(report: dict[str, Any]) -> list[str]:
    """Runs whose token accuracy does not clear the unigram baseline: they have not learnt from context."""
    stuck = [
        name for name, result in report["strategies"].items()
        if any(seed["common_eval"]["eval_accuracy"] <= seed["common_eval"]["eval_unigram_accuracy"] + 0.001
               for seed in result["seeds"].values())
    ]
    if not stuck:
        return []
    return [f"- {', '.join(stuck)}: held-out accuracy at or below the unigram baseline (still predicting the most "
            "frequent token, not from context); train longer (--max-steps, --minutes) before comparing them."]


def _mlm_table(report: dict[str, Any]) -> list[str]:
    analysis = report["analysis"]
    header = ["strategy"] + [metric.label for metric in MLM_METRICS] + ["unigram baseline", "whole-word unigram", "steps", "CPU ms/step"]
    rows = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for name, result in report["strategies"].items():
        seeds = list(result["seeds"].values())
        common = seeds[0]["common_eval"]
        cpu = [seed["pretrain_cpu_seconds"] / max(seed["steps"], 1) for seed in seeds if seed.get("pretrain_cpu_seconds")]
        cells = [_cell(analysis["mlm"][name][metric.name], metric.name) for metric in MLM_METRICS]
        cells += [_fraction(common["eval_unigram_accuracy"]), _fraction(common["eval_whole_word_unigram_accuracy"]),
                  str(seeds[0]["steps"]), f"{1000 * sum(cpu) / len(cpu):.0f}" if cpu else ""]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def _glue_table(report: dict[str, Any]) -> list[str]:
    analysis = report["analysis"]
    majority = analysis["majority_baselines"]
    rows = ["| model | task | per seed | mean [95% interval] | majority class |", "|---|---|---|---:|---:|"]
    for name, scores in analysis["glue"].items():
        for key, entry in scores.items():
            eval_name, metric = key.split(":")
            values = ", ".join(_fraction(value) for value in entry["per_seed"])
            base = _fraction(majority[eval_name]) if metric == "accuracy" and eval_name in majority else ""
            rows.append(f"| {name} | {eval_name} {metric} | {values} | {_cell(entry, metric)} | {base} |")
    return rows


def _masking_table(report: dict[str, Any]) -> list[str]:
    rows = [
        "| strategy | rate (train) | rate (probe) | mean masked run | whole-word share | function-word share |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, result in report["strategies"].items():
        seed = next(iter(result["seeds"].values()))
        masking, rate = seed["masking"], seed["train_masking_rate"]
        rows.append(
            f"| {name} | {'' if rate is None else f'{rate:.4f}'} | {masking['masking_rate']:.4f} | "
            f"{masking['mean_masked_run']:.2f} | {masking['whole_word_share']:.3f} | {masking['function_word_share']:.3f} |"
        )
    return rows


def plot_learning_curves(report: dict[str, Any], out: Path) -> Path:
    """Held-out token and whole-word accuracy (the one held-out measure) against step, one line per run with a
    band over pretraining seeds where there are two or more, and each measure's unigram baseline dashed."""
    from mlmkit.plotting import pyplot

    plt = pyplot()
    import numpy as np

    from mlmkit.train.metrics import read_metrics

    panels = (("eval_accuracy", "eval_unigram_accuracy", "token accuracy"),
              ("eval_whole_word_accuracy", "eval_whole_word_unigram_accuracy", "whole-word accuracy"))
    figure, axes = plt.subplots(1, len(panels), figsize=(11, 4))
    for axis, (key, baseline_key, title) in zip(axes, panels):
        baseline = None
        for name, result in report["strategies"].items():
            curves = []
            for seed in result["seeds"].values():
                rows = [row for row in read_metrics(Path(seed["run_dir"]) / "metrics.jsonl") if key in row]
                curves.append(([row["step"] for row in rows], [100 * row[key] for row in rows]))
                baseline = 100 * rows[-1][baseline_key] if rows else baseline
            steps = curves[0][0]
            values = np.array([curve[1] for curve in curves if len(curve[1]) == len(steps)])
            line = axis.plot(steps, values.mean(axis=0), marker="o", label=name)[0]
            if len(values) > 1:
                axis.fill_between(steps, values.min(axis=0), values.max(axis=0), color=line.get_color(), alpha=0.2)
        if baseline is not None:
            axis.axhline(baseline, color="grey", linestyle="--", label="unigram baseline")
        axis.set(xlabel="pretraining step", ylabel=f"held-out {title} (%)", title=f"Held-out {title}")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    figure.tight_layout()
    path = out / "learning_curves.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_glue(report: dict[str, Any], out: Path) -> Path:
    """Per model and GLUE set: the mean over seeds with its 95% interval, every seed as a dot, and the
    majority-class line."""
    from mlmkit.plotting import pyplot

    plt = pyplot()

    analysis = report["analysis"]
    keys = sorted({key for scores in analysis["glue"].values() for key in scores})
    figure, axes = plt.subplots(1, len(keys), figsize=(max(5, 1.5 * len(analysis["glue"]) + 2) * len(keys), 4), squeeze=False)
    for axis, key in zip(axes[0], keys):
        names = [name for name, scores in analysis["glue"].items() if key in scores]
        for x, name in enumerate(names):
            entry = analysis["glue"][name][key]
            interval = entry["interval"]
            mean = 100 * entry["mean"]
            axis.bar(x, mean, color="tab:blue", alpha=0.6)
            axis.errorbar(x, mean, yerr=[[mean - 100 * interval["low"]], [100 * interval["high"] - mean]], color="black", capsize=6)
            axis.scatter([x] * len(entry["per_seed"]), [100 * v for v in entry["per_seed"]], color="black", s=12, zorder=3)
        eval_name, metric = key.split(":")
        if metric == "accuracy" and eval_name in analysis["majority_baselines"]:
            axis.axhline(100 * analysis["majority_baselines"][eval_name], color="grey", linestyle="--", label="majority class")
            axis.legend(fontsize="small")
        axis.set_xticks(range(len(names)), names, rotation=20)
        axis.set(ylabel=f"{eval_name} {metric} (dev, %)", title=f"{eval_name}: mean, 95% interval, seeds")
        axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    path = out / "glue.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
