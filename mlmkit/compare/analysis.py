"""What a comparison can conclude: every score with its interval, paired differences, verdicts, a summary.

Inputs are the raw results `mlmkit compare` collects (per-block held-out sums per pretraining seed;
per-example GLUE predictions per pretraining × fine-tuning seed); outputs are plain data that the report
renders. Differences are taken against the first-named strategy (the reference), on the same held-out
blocks and the same seeds, and, for GLUE, also against the no-pretraining control: what pretraining bought.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlmkit.compare.statistics import (
    TIE,
    Interval,
    paired_difference,
    ratio_interval,
    scale_to_resolve,
    statistic_interval,
    verdict,
)
from mlmkit.eval.held_out import BLOCK_COLUMNS
from mlmkit.eval.metrics import METRICS


@dataclass(frozen=True)
class MlmMetric:
    """A held-out score: sum(numerator column) / sum(denominator column) over blocks."""

    name: str
    label: str
    numerator: str
    denominator: str
    higher_is_better: bool = True


MLM_METRICS = (
    MlmMetric("accuracy", "token accuracy", "correct", "tokens"),
    MlmMetric("whole_word_accuracy", "whole-word accuracy", "words_correct", "words"),
    MlmMetric("content_accuracy", "content-word accuracy", "content_correct", "content_tokens"),
    MlmMetric("function_accuracy", "function-word accuracy", "function_correct", "function_tokens"),
    MlmMetric("loss", "held-out loss", "loss_sum", "tokens", higher_is_better=False),
)


def _block_grid(seeds: dict[str, Any]) -> np.ndarray:
    """(P, N, C): per pretraining seed, per held-out block, the BLOCK_COLUMNS sums."""
    return np.stack([np.asarray(entry["common_eval"]["blocks"], dtype=np.float64) for entry in seeds.values()])


def _summary(per_seed: list[float], interval: Interval) -> dict[str, Any]:
    return {"per_seed": per_seed, "mean": float(np.mean(per_seed)), "interval": interval.to_dict()}


def _difference(interval: Interval, higher_is_better: bool) -> dict[str, Any]:
    return {"interval": interval.to_dict(), "verdict": verdict(interval, higher_is_better), "scale_to_resolve": scale_to_resolve(interval)}


def mlm_scores(strategies: dict[str, Any], reference: str) -> dict[str, dict[str, Any]]:
    """Per run and metric: per-seed values, mean, 95% interval, and the paired difference to `reference`."""
    columns = {name: i for i, name in enumerate(BLOCK_COLUMNS)}
    grids = {name: _block_grid(result["seeds"]) for name, result in strategies.items()}
    scores: dict[str, dict[str, Any]] = {}
    for name, grid in grids.items():
        scores[name] = {}
        for metric in MLM_METRICS:
            top, bottom = grid[:, :, columns[metric.numerator]], grid[:, :, columns[metric.denominator]]
            per_seed = [float(t.sum() / b.sum()) if b.sum() else float("nan") for t, b in zip(top, bottom)]
            entry = _summary(per_seed, ratio_interval(top, bottom))
            if name != reference:
                base = grids[reference]
                pair = (base[:, :, columns[metric.numerator]], base[:, :, columns[metric.denominator]])
                entry["vs_reference"] = _difference(paired_difference(pair, (top, bottom)), metric.higher_is_better)
            scores[name][metric.name] = entry
    return scores


def _predictions(glue_by_seed: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray, tuple[str, ...]]]:
    """Per GLUE evaluation set: predictions (S, M) over pretraining × fine-tuning seeds, labels (M,), metric names."""
    from mlmkit.eval.glue.tasks import TASKS

    found: dict[str, tuple[list[np.ndarray], np.ndarray, tuple[str, ...]]] = {}
    for glue in glue_by_seed.values():
        for task, details in glue["details"].items():
            for eval_name, by_seed in details["predictions"].items():
                rows, labels, _ = found.setdefault(eval_name, ([], np.asarray(details["labels"][eval_name]), TASKS[task].metrics))
                rows.extend(np.asarray(by_seed[seed], dtype=np.float64) for seed in sorted(by_seed, key=int))
    return {name: (np.stack(rows), labels, metrics) for name, (rows, labels, metrics) in found.items()}


def _metric_interval(metric: str, predictions: np.ndarray, labels: np.ndarray, baseline: np.ndarray | None = None) -> Interval:
    """Interval of a GLUE metric over seeds × dev examples, or of its difference to `baseline`'s predictions."""
    if metric == "accuracy":
        right = (predictions == labels).astype(np.float64)
        ones = np.ones_like(right)
        if baseline is None:
            return ratio_interval(right, ones)
        return paired_difference(((baseline == labels).astype(np.float64), ones), (right, ones))
    function = METRICS[metric]

    def value(seeds: np.ndarray, units: np.ndarray, rows: np.ndarray) -> float:
        return function(rows[seeds][:, units].ravel(), np.tile(labels[units], len(seeds)))

    if baseline is None:
        return statistic_interval(lambda s, u: value(s, u, predictions), *predictions.shape, resamples=500)
    return statistic_interval(lambda s, u: value(s, u, predictions) - value(s, u, baseline), *predictions.shape, resamples=500)


def glue_scores(models: dict[str, dict[str, Any]], reference: str, control: str) -> dict[str, dict[str, Any]]:
    """Per model (runs and the control) and `eval:metric`: per-seed values, mean, interval, and paired
    differences to `reference` and to `control` (same seeds and dev examples)."""
    predictions = {name: _predictions(glue) for name, glue in models.items()}
    scores: dict[str, dict[str, Any]] = {}
    for name, sets in predictions.items():
        scores[name] = {}
        for eval_name, (rows, labels, metrics) in sets.items():
            for metric in metrics:
                per_seed = [float(METRICS[metric](row, labels)) for row in rows]
                entry = _summary(per_seed, _metric_interval(metric, rows, labels))
                for key, other in (("vs_reference", reference), ("vs_control", control)):
                    if name != other and eval_name in predictions.get(other, {}):
                        difference = _metric_interval(metric, rows, labels, baseline=predictions[other][eval_name][0])
                        entry[key] = _difference(difference, higher_is_better=True)
                scores[name][f"{eval_name}:{metric}"] = entry
    return scores


def majority_baselines(models: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Per GLUE classification set, the accuracy of always predicting the most frequent dev label."""
    from mlmkit.eval.glue.tasks import TASKS

    first_glue = next(iter(next(iter(models.values())).values()))
    baselines = {}
    for task, details in first_glue["details"].items():
        if TASKS[task].is_regression:
            continue
        for eval_name, labels in details["labels"].items():
            baselines[eval_name] = float(np.bincount(np.asarray(labels, dtype=int)).max() / len(labels))
    return baselines


def conclusions(mlm: dict[str, Any], glue: dict[str, Any], reference: str, control: str, pretrain_seeds: int) -> list[str]:
    """Sentences written from the verdicts: what differs beyond noise, what does not and what resolving it
    would take, and what pretraining bought over the control."""
    resolved, unresolved = [], []
    for scores, unit in ((mlm, "held-out text"), (glue, "fine-tuning seeds × dev examples")):
        for name, metrics in scores.items():
            for metric, entry in metrics.items():
                difference = entry.get("vs_reference")
                if difference is None or name == control:
                    continue
                text = f"{name} vs {reference} on {_label(metric)}: {_points(difference['interval'], metric)}"
                if difference["verdict"] == TIE:
                    unresolved.append(text + _needed(difference["scale_to_resolve"], unit))
                else:
                    resolved.append(f"{name} is {difference['verdict']} than {reference} on {_label(metric)} "
                                    f"by {_points(difference['interval'], metric)}")
    lines = []
    # With one pretraining run per strategy the intervals hold held-out blocks (and fine-tuning seeds) only.
    beyond = "Beyond noise" if pretrain_seeds >= 2 else "Beyond the noise of held-out blocks and fine-tuning seeds (one pretraining run each)"
    lines.append(f"{beyond}: " + ("; ".join(resolved) + "." if resolved else "no strategy differs from "
                                  f"{reference} beyond its 95% interval on any measure."))
    if unresolved:
        lines.append("Not distinguishable at this budget: " + "; ".join(unresolved) + ".")
    bought = []
    for name, metrics in glue.items():
        for metric, entry in metrics.items():
            difference = entry.get("vs_control")
            if difference is not None:
                bought.append(f"{name} {_points(difference['interval'], metric)} on {_label(metric)} ({difference['verdict']})")
    if bought:
        lines.append(f"What pretraining bought over {control} (GLUE, same seeds): " + "; ".join(bought) + ".")
    if pretrain_seeds < 2:
        lines.append("One pretraining seed per strategy: the held-out intervals cover the held-out blocks, not "
                     "pretraining variation; add --pretrain-seeds to include it. More pretraining minutes move the "
                     "differences themselves, so rerun longer before extrapolating them.")
    return lines


def _needed(scale: float | None, unit: str) -> str:
    """What resolving an undecided difference would take, from `scale_to_resolve`."""
    if scale is None:
        return " (no difference at all)"
    if scale <= 1.5:
        return " (at the edge of its interval: a little more data would decide it)"
    return f" (about {scale:.0f}× the {unit} would resolve a difference this size, if it held)"


def _label(metric: str) -> str:
    for known in MLM_METRICS:
        if known.name == metric:
            return known.label
    return metric.replace(":", " ")


def _points(interval: dict[str, float], metric: str) -> str:
    """A difference with its interval: of fractions in percentage points ('+1.20 points [+0.40, +2.00]'),
    of the held-out loss in nats."""
    if metric == "loss":
        return f"{interval['estimate']:+.3f} nats [{interval['low']:+.3f}, {interval['high']:+.3f}]"
    return f"{100 * interval['estimate']:+.2f} points [{100 * interval['low']:+.2f}, {100 * interval['high']:+.2f}]"


def analyse(report: dict[str, Any], control: str) -> dict[str, Any]:
    """Everything the report shows beyond the raw numbers, from the report dictionary of `run_comparison`."""
    strategies = report["strategies"]
    reference = next(iter(strategies))
    mlm = mlm_scores(strategies, reference)
    models = {name: {seed: entry["glue"] for seed, entry in result["seeds"].items()} for name, result in strategies.items()}
    models[control] = {seed: entry["glue"] for seed, entry in report["control"]["seeds"].items()}
    glue = glue_scores(models, reference, control)
    return {
        "reference": reference,
        "mlm": mlm,
        "glue": glue,
        "majority_baselines": majority_baselines(models),
        "conclusions": conclusions(mlm, glue, reference, control, len(report["options"]["pretrain_seeds"])),
    }
