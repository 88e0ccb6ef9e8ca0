"""`mlmkit compare`: pretrain one model per masking strategy under one budget, then evaluate all alike.

Fairness is by construction: one tokenizer, one prepared dataset and one set of corpus statistics
are built once and shared; for each pretraining seed every run gets the same model config, optimiser,
steps, batch size, data order (the sampler's seed) and initialisation (the model seed); only the
collator differs. Every model is then scored with the one held-out measure (`mlmkit.eval.held_out`:
the same blocks, fixed [MASK]-only masks), and fine-tuned on the same GLUE subsets with the same seeds,
beside a no-pretraining control: the same initial weights, fine-tuned the same way. The report
(`mlmkit.compare.report`) gives every number its interval and says what the differences allow one to
conclude (`mlmkit.compare.analysis`).

`late_mask` adds, for each strategy it names, a second run "STRATEGY+late_mask": the same collator
with the 3ML late-[MASK] layout and a late-mask model of the same size and steps, so
the comparison shows what moving the [MASK]s to the last layers costs or saves at equal data.

Everything lands under OUT; a rerun skips the parts that already finished (a run with a final
model, a GLUE result file) and resumes an interrupted pretraining from its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlmkit.compare.options import CompareOptions
from mlmkit.errors import MlmkitError
from mlmkit.eval.held_out import HeldOutMasking
from mlmkit.logs import logger

# The one held-out measure every model is scored with (fixed [MASK]-only masks; mlmkit.eval.held_out).
COMMON_EVAL = HeldOutMasking().to_dict()


def run_comparison(options: CompareOptions) -> dict[str, Any]:
    """Run (or finish) the comparison and write OUT/report.md, OUT/report.json and the plots.

    Library messages (load reports, expected warnings) go to OUT/compare.log; the terminal shows one
    progress bar per stage.

    Returns:
        The report dictionary (also in report.json).
    """
    from mlmkit.compare.report import write_report
    from mlmkit.logs import library_output_to

    _check(options)
    out = Path(options.out)
    runs = planned_runs(options)
    with library_output_to(out / "compare.log"):
        shared = _prepare_shared(options, out / "shared")
        max_steps = _budget_steps(runs[0], options, shared, out) if options.minutes else options.max_steps
        results = {
            run.name: {
                "strategy": run.strategy,
                "late_layers": run.late_layers,
                "seeds": {str(seed): _run_strategy(run, seed, options, shared, out / "runs" / run.name / f"seed-{seed}", max_steps)
                          for seed in options.pretrain_seeds},
            }
            for run in runs
        }
        control = {str(seed): _run_control(seed, options, shared, out / "runs" / CONTROL_FOLDER / f"seed-{seed}")
                   for seed in options.pretrain_seeds}
    report = {
        "options": dataclasses.asdict(options),
        "max_steps": max_steps,
        "common_eval": COMMON_EVAL,
        "tokenizer": {"path": str(shared.tokenizer_dir), "kind": "wordpiece", "vocab_size": len(shared.tokenizer), "lowercase": True},
        "held_out_blocks": len(shared.validation),
        "strategies": results,
        "control": {"seeds": control},
        "software": _software(),
    }
    write_report(report, out)
    return report


def _software() -> dict[str, str]:
    """Versions this report was written with (a rerun reuses finished runs and records its own versions)."""
    import platform

    import torch
    import transformers

    from mlmkit import __version__

    return {"mlmkit": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version()}


# The no-pretraining control: the same model, randomly initialised, fine-tuned the same way.
CONTROL, CONTROL_FOLDER = "no pretraining", "no-pretraining"


@dataclass(frozen=True)
class PlannedRun:
    """One pretraining run of the comparison: a strategy, as a standard or a late-mask model."""

    name: str  # the run's folder and its row in the report
    strategy: str
    late_layers: int | None = None  # None: a standard masked LM


LATE_MASK_SUFFIX = "+late_mask"


def planned_runs(options: CompareOptions) -> list[PlannedRun]:
    """The standard run of every strategy, then the late-mask runs, in the order given."""
    from mlmkit.models.factory import size_preset

    runs = [PlannedRun(name, name) for name in options.strategies]
    if options.late_mask:
        layers = size_preset(options.family, options.model_size)["num_hidden_layers"]
        late_layers = options.late_layers or min(2, layers // 2)
        runs += [PlannedRun(name + LATE_MASK_SUFFIX, name, late_layers) for name in options.late_mask]
    return runs


def _check(options: CompareOptions) -> None:
    from mlmkit.masking import MASKERS
    from mlmkit.models.factory import MODELS, SIZES, size_preset

    for flag, names in (("--strategies", options.strategies), ("--late-mask", options.late_mask)):
        unknown = [name for name in names if name not in MASKERS]
        if unknown:
            raise MlmkitError(f"unknown strategy {unknown[0]!r} in {flag}; choose from {sorted(MASKERS)}")
        seq2seq = [name for name in names if getattr(MASKERS[name], "collator_defaults", {}).get("output", "mlm") != "mlm"]
        if seq2seq:
            raise MlmkitError(
                f"{seq2seq[0]!r} trains an encoder-decoder, not a masked LM, so it cannot share this comparison; "
                "pretrain it with `mlmkit pretrain mass-tiny` and evaluate with `mlmkit seq2seq --compare-scratch`"
            )
        if len(set(names)) != len(names):
            raise MlmkitError(f"{flag} lists a strategy twice: {list(names)}")
    if options.family not in MODELS or options.family == "mass":
        raise MlmkitError(f"--family {options.family!r} is not a masked-LM family; choose one of {[f for f in MODELS if f != 'mass']}")
    if options.model_size not in SIZES:
        raise MlmkitError(f"--model-size {options.model_size!r} is unknown; choose one of {list(SIZES)}")
    layers = size_preset(options.family, options.model_size)["num_hidden_layers"]
    if options.late_mask and options.family not in ("bert", "roberta"):
        raise MlmkitError(f"--late-mask needs --family bert or roberta (3ML's late-[MASK] encoders), got {options.family!r}")
    if options.late_layers is not None and not 1 <= options.late_layers < layers:
        allowed = "1" if layers == 2 else f"1 to {layers - 1}"
        raise MlmkitError(
            f"--late-layers {options.late_layers} does not fit a {options.model_size} model ({layers} layers): use "
            f"{allowed}, so that at least one layer runs without the [MASK]s"
        )
    runs = {run.name: run for run in planned_runs(options)}
    stray = [name for name in options.strategy_options if name not in runs]
    if stray:
        raise MlmkitError(f"--option {stray[0]}.…: no run is named {stray[0]!r}; the runs are {list(runs)}")
    from mlmkit.collators import check_collator_options

    for name, given in options.strategy_options.items():  # before any training, not when the run starts
        check_collator_options(runs[name].strategy, given, key_prefix=f"{name}.")
    from mlmkit.data.output_folder import check_writable_folder

    check_writable_folder(options.out)
    if options.max_steps < 1:
        raise MlmkitError(f"--max-steps {options.max_steps}: give at least 1 pretraining step per strategy (the demo uses 500)")
    if options.minutes is not None and options.minutes <= 0:
        raise MlmkitError(f"--minutes {options.minutes}: give a positive time budget per strategy, in minutes")
    for flag, seeds in (("--seeds", options.seeds), ("--pretrain-seeds", options.pretrain_seeds)):
        if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise MlmkitError(f"{flag} {','.join(map(str, seeds))}: give distinct non-negative integers, e.g. 1,2,3")


@dataclass
class Shared:
    """What every run shares: tokenizer folder, prepared data folder, statistics files."""

    tokenizer_dir: Path
    data_dir: Path
    corpus: list[Path]
    stats: dict[str, Path]
    tokenizer: Any = None
    validation: Any = None


def _prepare_shared(options: CompareOptions, folder: Path) -> Shared:
    """Train the tokenizer, prepare the blocks and build the statistics once (reused on reruns)."""
    from tqdm.auto import tqdm

    from mlmkit.data.corpus import check_corpus_files, default_corpus_path
    from mlmkit.data.pipeline import prepare_dataset
    from mlmkit.data.tokenizer import train_tokenizer
    from mlmkit.stats import STATS_BUILDERS

    corpus = check_corpus_files(options.corpus) if options.corpus else [default_corpus_path()]
    folder.mkdir(parents=True, exist_ok=True)
    informed = [name for name in dict.fromkeys(options.strategies + options.late_mask) if name in STATS_BUILDERS]
    with tqdm(total=2 + len(informed), desc="prepare: tokenizer") as bar:
        # Reused when the folder holds a tokenizer trained from the same corpus and options.
        tokenizer = train_tokenizer(
            corpus, "wordpiece", options.vocab_size, folder / "tokenizer", lowercase=True, show_progress=False
        ).tokenizer
        bar.set_description("prepare: blocks")
        bar.update(1)
        prepared = prepare_dataset(
            tokenizer, seq_len=options.seq_len, out_dir=folder / "data", corpus_files=corpus,
            validation_fraction=0.05, seed=options.pretrain_seeds[0], show_progress=False,
        )
        bar.update(1)
        stats = {}
        for name in informed:
            bar.set_description(f"prepare: {name} statistics")
            stats[name] = _build_stats(name, tokenizer, corpus, folder / "stats")
            bar.update(1)
    return Shared(folder / "tokenizer", prepared.path, corpus, stats, tokenizer, prepared.dataset["validation"])


def _build_stats(name: str, tokenizer: Any, corpus: list[Path], folder: Path) -> Path:
    """Build the corpus statistics informed strategy `name` needs, once."""
    from mlmkit.stats import stats_builder

    target = folder / f"{name}.safetensors"
    if not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        logger.info(f"building {name} statistics -> {target}")
        stats_builder(name)(tokenizer, [str(path) for path in corpus], target)
    return target


def _run_config(run: PlannedRun, seed: int, options: CompareOptions, shared: Shared, run_dir: Path, max_steps: int) -> Any:
    """The run's config: identical for every run but for the collator (and, for late-mask runs, the model)."""
    from mlmkit.config import config_from_dict

    collator_options = {"mlm_probability": options.mlm_probability, **options.strategy_options.get(run.strategy, {})}
    model = {"family": options.family, "size": options.model_size}
    if run.late_layers:
        # Exact 80/10/10 counts per row keep every row's encoder input one length (no padding).
        collator_options.setdefault("exact_replacement", True)
        collator_options.update(options.strategy_options.get(run.name, {}), output="late_mask")
        model["late_mask"] = {"late_layers": run.late_layers}
    if run.strategy in shared.stats:
        collator_options.setdefault("stats", str(shared.stats[run.strategy]))
    tree = {
        # The shared tokenizer's real settings, so that the run's config.yaml says what it used.
        "tokenizer": {"path": str(shared.tokenizer_dir), "kind": "wordpiece", "vocab_size": options.vocab_size, "lowercase": True},
        "data": {"path": str(shared.data_dir), "seq_len": options.seq_len},
        "model": model,
        "collator": {"name": run.strategy, "options": collator_options},
        "train": {
            "max_steps": max_steps, "batch_size": options.batch_size, "lr": options.lr, "seed": seed,
            "eval_every": max(1, max_steps // 4), "save_every": max(1, max_steps // 2), "log_every": max(1, max_steps // 40),
        },
        "output_dir": str(run_dir),
    }
    return config_from_dict(tree, source=f"compare run {run.name!r}")


def _budget_steps(first: PlannedRun, options: CompareOptions, shared: Shared, out: Path) -> int:
    """Turn --minutes into a step count every run gets: time a short probe run of the first
    strategy and keep its steady-state throughput (so all runs train on the same number of tokens)."""
    from mlmkit.train.metrics import read_metrics

    probe_dir = out / "budget-probe"
    probe_steps = 20
    if not (probe_dir / "final" / "config.json").is_file():
        from mlmkit.train import pretrain

        from mlmkit.train.checkpoint import latest_checkpoint

        config = _run_config(first, options.pretrain_seeds[0], options, shared, probe_dir, probe_steps)
        pretrain(config, resume=latest_checkpoint(probe_dir) is not None, description="timing probe")
    rates = [row["tokens_per_s"] for row in read_metrics(probe_dir / "metrics.jsonl") if "tokens_per_s" in row]
    tokens_per_step = options.batch_size * options.seq_len
    steps = int(options.minutes * 60 * rates[-1] / tokens_per_step)
    logger.info(f"--minutes {options.minutes}: {rates[-1]:.0f} tokens/s measured -> {steps} steps per strategy")
    return max(steps, 1)


def _run_strategy(
    run: PlannedRun, seed: int, options: CompareOptions, shared: Shared, run_dir: Path, max_steps: int
) -> dict[str, Any]:
    """Pretrain (or reuse) one run's model with one pretraining seed, then score it; its report entry."""
    from mlmkit.train.checkpoint import latest_checkpoint
    from mlmkit.train.metrics import read_metrics

    final = run_dir / "final"
    if not (final / "config.json").is_file():
        from mlmkit.train import pretrain

        config = _run_config(run, seed, options, shared, run_dir, max_steps)
        pretrain(config, resume=latest_checkpoint(run_dir) is not None, description=f"pretrain {run.name} (seed {seed})")
    rows = read_metrics(run_dir / "metrics.jsonl")
    train_rows = [row for row in rows if "masking_rate" in row]
    return {
        "run_dir": str(run_dir),
        "steps": train_rows[-1]["step"] if train_rows else 0,
        "pretrain_seconds": round(train_rows[-1]["seconds"], 1) if train_rows else None,
        "pretrain_cpu_seconds": round(train_rows[-1].get("cpu_seconds", 0.0), 1) if train_rows else None,
        "train_masking_rate": _mean(row["masking_rate"] for row in train_rows),
        "final_train_loss": train_rows[-1]["loss"] if train_rows else None,
        "common_eval": _cached_json(run_dir / "common_eval.json", lambda: common_eval(final, shared), COMMON_EVAL),
        "masking": _cached_json(run_dir / "masking_stats.json", lambda: _masking_stats(run, options, shared)),
        "glue": _glue(final, options, run_dir / "glue", f"{run.name} (seed {seed})"),
    }


def _run_control(seed: int, options: CompareOptions, shared: Shared, folder: Path) -> dict[str, Any]:
    """Fine-tune the no-pretraining control: the model every run of `seed` starts from, untrained."""
    from mlmkit.models.factory import masked_lm_from_preset
    from mlmkit.train.checkpoint import save_final

    final = folder / "final"
    if not (final / "config.json").is_file():
        model = masked_lm_from_preset(options.family, options.model_size, shared.tokenizer, options.seq_len, seed)
        save_final(model, shared.tokenizer, final)
    return {"run_dir": str(folder), "glue": _glue(final, options, folder / "glue", f"{CONTROL} (seed {seed})")}


def common_eval(model_dir: Path, shared: Shared) -> dict[str, Any]:
    """Held-out numbers of `model_dir` under the one held-out measure (`mlmkit.eval.held_out`), with the
    per-block sums the report's intervals resample. A late-mask model is scored on the same selection in
    its own layout: the [MASK]s join at its late layers."""
    from mlmkit.eval.held_out import score_model
    from mlmkit.models.loading import load_masked_lm

    scores, block_sums = score_model(load_masked_lm(model_dir), shared.tokenizer, shared.validation)
    return {**scores, "blocks": block_sums.tolist()}


def _masking_stats(run: PlannedRun, options: CompareOptions, shared: Shared) -> dict[str, float]:
    from mlmkit.collators import build_collator
    from mlmkit.compare.probe import masking_statistics

    collator_options = dict(_run_config(run, options.pretrain_seeds[0], options, shared, Path("unused"), 1).collator.options)
    collator_options.pop("output", None)  # the late-mask layout selects the same tokens; the probe reads the MLM layout
    collator = build_collator(run.strategy, shared.tokenizer, **collator_options)
    return masking_statistics(collator, shared.validation, shared.tokenizer)


def _glue(model_dir: Path, options: CompareOptions, out: Path, description: str) -> dict[str, Any]:
    """Fine-tune and score on the GLUE tasks, or read the results an earlier run wrote."""
    from mlmkit.eval.glue.results import write_results
    from mlmkit.eval.glue.run import GlueOptions, run_glue

    if (out / "results.json").is_file():
        return json.loads((out / "results.json").read_text(encoding="utf-8"))
    glue_options = GlueOptions(
        seeds=options.seeds, epochs=options.glue_epochs, lr=options.glue_lr,
        max_train_samples=options.max_train_samples, max_eval_samples=options.max_eval_samples, description=description,
    )
    summary = run_glue(model_dir, list(options.glue_tasks), options.glue_data_dir, glue_options)
    write_results(out, summary)
    return summary


def _cached_json(path: Path, compute: Any, made_with: dict[str, Any] | None = None) -> Any:
    """Read `path` if an earlier run wrote it (with the same `made_with` settings, when given), else
    compute, write atomically and return; `made_with` is stored in the value."""
    if path.is_file():
        value = json.loads(path.read_text(encoding="utf-8"))
        if made_with is None or value.get("made_with") == made_with:
            return value
    value = compute() if made_with is None else {**compute(), "made_with": made_with}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(value, indent=2), encoding="utf-8")
    partial.replace(path)
    return value


def _mean(values: Any) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None
