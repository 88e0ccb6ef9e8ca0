"""Draw pretraining curves from metrics.jsonl files (matplotlib, the `plot` extra; Agg: no display needed)."""

from __future__ import annotations

from pathlib import Path

from mlmkit.data.output_folder import check_output_file
from mlmkit.errors import MlmkitError
from mlmkit.train.metrics import read_metrics

# (metrics key, panel title) per row of the figure; held-out numbers are the one held-out measure.
PANELS = (
    ("loss", "training loss"),
    ("eval_loss", "held-out loss"),
    ("eval_accuracy", "held-out token accuracy"),
    ("eval_whole_word_accuracy", "held-out whole-word accuracy"),
)
# The baseline drawn dashed beside a panel's curves: always predicting the most frequent masked token.
BASELINES = {"eval_accuracy": "eval_unigram_accuracy", "eval_whole_word_accuracy": "eval_whole_word_unigram_accuracy"}


def plot_runs(run_dirs: list[str], out: str) -> Path:
    """One figure: rows = PANELS, columns = against step / against seconds, one line per run."""
    check_output_file(out)
    from mlmkit.plotting import pyplot

    plt = pyplot()

    runs = {Path(folder).name or str(folder): _rows(Path(folder)) for folder in run_dirs}
    figure, axes = plt.subplots(len(PANELS), 2, figsize=(11, 3.2 * len(PANELS)), squeeze=False)
    for row, (key, title) in enumerate(PANELS):
        for column, x_key in enumerate(("step", "seconds")):
            axis = axes[row][column]
            for name, rows in runs.items():
                points = [(r[x_key], r[key]) for r in rows if key in r and x_key in r]
                if points:
                    line = axis.plot(*zip(*points), label=name, marker="." if key != "loss" else None)[0]
                    baseline = [(r[x_key], r[BASELINES[key]]) for r in rows if BASELINES.get(key) in r and x_key in r]
                    if baseline:
                        axis.plot(*zip(*baseline), linestyle="--", color=line.get_color(), label=f"{name}: unigram baseline")
            axis.set_title(f"{title} vs {x_key}")
            axis.set_xlabel(x_key)
            axis.grid(alpha=0.3)
            if runs:
                axis.legend(fontsize="small")
    figure.tight_layout()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _rows(folder: Path) -> list[dict]:
    metrics = folder / "metrics.jsonl"
    if not metrics.is_file():
        raise MlmkitError(f"{str(folder)!r} has no metrics.jsonl; pass the output_dir of an `mlmkit pretrain` run")
    return read_metrics(metrics)
