"""Toy-scale quality check of 3ML late-mask pretraining (issue 8): held-out MLM accuracy per second.

Pretrains a standard BERT (`mlmkit/recipes/3ml-tiny-cpu.yaml` without its late stage: 15% masking, 80/10/10) and a late-mask model
(`mlmkit/recipes/3ml-tiny-cpu.yaml`: 50% masking, 80/10/10 split exactly per row, [MASK]s join for the last
`--late-layers` layers) of the same size for the SAME wall-clock budget on one shared tokenizer and one shared set of
blocks from the embedded corpus, with the same batch, optimiser, schedule shape and seed:
1. calibration: short runs of each measure its seconds per step (steps 10..N, the first ones warm up),
   in `--calibration-rounds` alternating rounds (standard, late-mask, standard, ...; the median per
   model), so that both paces see the same machine: a shared 2-core machine drifts by up to 30%
   over minutes, more than the difference being measured;
2. each run gets the steps that fill `--minutes` of training at that pace (evaluation and checkpoints
   are off the loop's clock) and saves `--points` evenly spaced checkpoints;
3. every checkpoint is scored with mlmkit's one held-out measure (`mlmkit.eval.held_out`: 15% [MASK]
   only, masks fixed per block; in place for the standard model, as late slots for 3ML, so both
   predict exactly the same positions from the same context).
Held-out text: `--heldout FILE` (default: WikiText-2's test split from ../shared/data, other articles
than the embedded corpus, which is WikiText-2's validation split), its first `--heldout-rows` blocks.

Writes OUT/standard, OUT/late_mask (the runs), OUT/<run>-common15/metrics.jsonl (the common curves,
readable by `mlmkit plot`), OUT/curves.png (`mlmkit plot` of all four) and OUT/summary.json: both
runs' common accuracy and loss at the same training second (the earlier end; the other run's curve
interpolated) and at the end. Two clocks: `seconds` as each run measured it, and `paced_seconds` =
step x the calibrated pace, which the drift between the two runs does not move.

Run:  python benchmarks/late_mask_toy.py --out runs/late-mask-toy --minutes 8
      python benchmarks/late_mask_toy.py --out /tmp/toy --minutes 0.5 --heldout-rows 16 --calibration-steps 20  (a smoke run)
      python benchmarks/late_mask_toy.py --out /tmp/toy50 --set-standard collator.options.mlm_probability=0.5 \
          collator.options.exact_replacement=true
                                    (the standard model at 3ML's masking: isolates "mask later" from "mask more")
Run nothing else meanwhile: the comparison is per second of wall-clock. Finished runs are reused.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import torch

from mlmkit.recipes import recipe_path

REPO = Path(__file__).resolve().parents[1]
RECIPES = {"standard": recipe_path("3ml-tiny-cpu"), "late_mask": recipe_path("3ml-tiny-cpu")}
# The standard run is 3ml-tiny-cpu's BERT without the late stage, at BERT's 15% with per-token 80/10/10
# (what tiny-cpu was before it became a ModernBERT): the pair differs only in masking and the late stage.
STANDARD = ["model.late_mask=null", "collator.options.output=mlm", "collator.options.mlm_probability=0.15",
            "collator.options.exact_replacement=false"]
DEFAULT_HELDOUT = REPO.parent / "shared" / "data" / "corpus" / "wikitext-2-raw" / "wiki.test.raw"


def shared_inputs(out: Path, heldout: Path, heldout_rows: int, seq_len: int = 128) -> tuple[Any, Path, Path, Any]:
    """One tokenizer and one prepared training set for both runs: (tokenizer, its folder, data folder, held-out blocks)."""
    from mlmkit.data.corpus import default_corpus_path
    from mlmkit.data.pipeline import prepare_dataset
    from mlmkit.data.tokenizer import train_tokenizer

    corpus = [default_corpus_path()]
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(corpus, "wordpiece", 4000, out / "tokenizer", lowercase=True).tokenizer
    # A small validation split only because the loop wants one; the comparison scores `heldout`.
    train = prepare_dataset(tokenizer, seq_len=seq_len, out_dir=out / "data", corpus_files=corpus, validation_fraction=0.01)
    scored = prepare_dataset(tokenizer, seq_len=seq_len, out_dir=out / "heldout", corpus_files=[heldout])
    rows = scored.dataset  # one split: no validation_fraction
    return tokenizer, out / "tokenizer", train.path, rows.select(range(min(heldout_rows, len(rows))))


def recipe_overrides(name: str, args: argparse.Namespace, inputs: tuple[Path, Path], run_dir: Path) -> list[str]:
    """What both runs share (size, data, tokenizer, --set) and what only the late-mask run has."""
    overrides = [f"tokenizer.path={inputs[0]}", f"data.path={inputs[1]}", f"output_dir={run_dir}", f"model.size={args.size}"]
    if name == "late_mask":
        overrides.append(f"model.late_mask.late_layers={args.late_layers}")
    else:
        overrides += STANDARD
    return overrides + list(args.set) + list(args.set_standard if name == "standard" else args.set_late_mask)


def calibrated_paces(args: argparse.Namespace, inputs: tuple[Path, Path]) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Median seconds per step of each run over alternating calibration rounds, and every round's value."""
    samples: dict[str, list[float]] = {name: [] for name in RECIPES}
    for round_index in range(args.calibration_rounds):
        for name in RECIPES:
            samples[name].append(seconds_per_step(name, args, inputs, args.out / "calibrate" / f"{name}-{round_index}"))
    return {name: statistics.median(values) for name, values in samples.items()}, samples


def seconds_per_step(name: str, args: argparse.Namespace, inputs: tuple[Path, Path], run_dir: Path) -> float:
    """Training seconds per step of a short run, leaving out its first 10 steps (warm-up)."""
    from mlmkit.config import load_recipe
    from mlmkit.train import pretrain

    steps = args.calibration_steps
    overrides = recipe_overrides(name, args, inputs, run_dir) + [
        f"train.max_steps={steps}", "train.log_every=10", f"train.eval_every={steps}", f"train.save_every={steps}",
    ]
    if not (run_dir / "final" / "config.json").is_file():
        pretrain(load_recipe(RECIPES[name], overrides), resume=False)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    logged = {row["step"]: row["seconds"] for row in rows if "loss" in row}
    return (logged[steps] - logged[10]) / (steps - 10)  # steps is a multiple of 10 (checked in main)


def pretrain_run(name: str, args: argparse.Namespace, inputs: tuple[Path, Path], max_steps: int) -> Path:
    """Pretrain one recipe for `max_steps`, keeping `--points` evenly spaced checkpoints."""
    from mlmkit.config import load_recipe
    from mlmkit.train import pretrain

    run_dir = args.out / name
    every = max(1, max_steps // args.points)
    overrides = recipe_overrides(name, args, inputs, run_dir) + [
        f"train.max_steps={max_steps}", f"train.save_every={every}", f"train.eval_every={max_steps}",
        f"train.keep_checkpoints={args.points + 1}",
    ]
    if not (run_dir / "final" / "config.json").is_file():
        pretrain(load_recipe(RECIPES[name], overrides), resume=False)
    return run_dir


@torch.no_grad()
def common_curve(name: str, run_dir: Path, tokenizer: Any, heldout: Any) -> list[dict[str, Any]]:
    """The held-out score of every checkpoint of a run, with its training seconds."""
    from mlmkit.eval.held_out import score_model
    from mlmkit.models.loading import load_masked_lm
    from mlmkit.train.checkpoint import complete_checkpoints

    rows = []
    for checkpoint in complete_checkpoints(run_dir):
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        scores, _ = score_model(load_masked_lm(checkpoint / "model"), tokenizer, heldout)
        rows.append({"step": state["step"], "seconds": state["seconds"], **scores})
    return rows


def value_at(rows: list[dict[str, Any]], key: str, seconds: float, clock: str = "seconds") -> float:
    """Linear interpolation of `key` over `clock` (flat before the first checkpoint and after the last)."""
    points = sorted((row[clock], row[key]) for row in rows)
    if seconds <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if seconds <= x1:
            return y0 + (y1 - y0) * (seconds - x0) / (x1 - x0)
    return points[-1][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/late-mask-toy"))
    parser.add_argument("--minutes", type=float, default=8.0, help="training wall-clock budget of each run")
    parser.add_argument("--size", default="tiny", help="model size of both runs (mlmkit.models.factory.SIZES)")
    parser.add_argument("--late-layers", type=int, default=1, help="layers the [MASK]s join for (of the size's layers)")
    parser.add_argument("--points", type=int, default=8, help="checkpoints (points of the common curve) per run")
    parser.add_argument("--calibration-steps", type=int, default=30, help="steps of each calibration run")
    parser.add_argument("--calibration-rounds", type=int, default=3, help="alternating calibration runs per model")
    parser.add_argument("--heldout", type=Path, default=DEFAULT_HELDOUT, help="held-out text file")
    parser.add_argument("--heldout-rows", type=int, default=512, help="blocks of 128 tokens scored")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="recipe overrides for both runs")
    parser.add_argument("--set-standard", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for the standard run")
    parser.add_argument("--set-late-mask", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for the late-mask run")
    args = parser.parse_args()
    if args.calibration_rounds < 1:
        raise SystemExit(f"--calibration-rounds must be at least 1, got {args.calibration_rounds}")
    if args.calibration_steps < 20 or args.calibration_steps % 10:
        raise SystemExit(f"--calibration-steps must be a multiple of 10 from 20 up, got {args.calibration_steps}")
    if not args.heldout.is_file():
        raise SystemExit(f"held-out file {args.heldout} not found; pass --heldout FILE (any text the corpus does not hold)")
    from mlmkit.eval.held_out import HeldOutMasking
    from mlmkit.train.plot import plot_runs

    tokenizer, tokenizer_dir, data_dir, heldout = shared_inputs(args.out, args.heldout, args.heldout_rows)
    inputs = (tokenizer_dir, data_dir)
    pace, samples = calibrated_paces(args, inputs)
    steps = {name: max(args.points, round(args.minutes * 60 / pace[name])) for name in RECIPES}
    print(json.dumps({"seconds_per_step": pace, "calibration_rounds": samples, "steps": steps}), flush=True)
    curves = {}
    for name in RECIPES:
        run_dir = pretrain_run(name, args, inputs, steps[name])
        curves[name] = [{**row, "paced_seconds": row["step"] * pace[name]} for row in common_curve(name, run_dir, tokenizer, heldout)]
        common_dir = args.out / f"{name}-common15"
        common_dir.mkdir(parents=True, exist_ok=True)
        (common_dir / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in curves[name]), encoding="utf-8")
    same_second = min(rows[-1]["seconds"] for rows in curves.values())
    same_paced_second = min(rows[-1]["paced_seconds"] for rows in curves.values())
    keys = ("eval_accuracy", "eval_loss", "eval_unigram_accuracy")
    summary = {
        "size": args.size, "late_layers": args.late_layers, "minutes": args.minutes,
        "overrides": {"both": args.set, "standard": args.set_standard, "late_mask": args.set_late_mask},
        "seconds_per_step": pace, "calibration_rounds": samples, "steps": steps, "common_masking": HeldOutMasking().to_dict(),
        "heldout": {"file": str(args.heldout), "rows": len(heldout), "scored_tokens": curves["standard"][-1]["eval_tokens"]},
        "seconds_compared": same_second,
        "at_same_second": {name: {key: value_at(rows, key, same_second) for key in keys} for name, rows in curves.items()},
        "paced_seconds_compared": same_paced_second,
        "at_same_paced_second": {
            name: {key: value_at(rows, key, same_paced_second, clock="paced_seconds") for key in keys} for name, rows in curves.items()
        },
        "final": {name: {key: rows[-1][key] for key in ("step", "seconds", *keys)} for name, rows in curves.items()},
        "curves": curves,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    runs = [str(args.out / name) for name in RECIPES] + [str(args.out / f"{name}-common15") for name in RECIPES]
    plot_runs(runs, str(args.out / "curves.png"))
    print(f"curves: mlmkit plot {' '.join(runs)} --out {args.out / 'curves.png'}")
    shown = ("seconds_compared", "at_same_second", "paced_seconds_compared", "at_same_paced_second", "final")
    print(json.dumps({key: summary[key] for key in shown}, indent=1))


if __name__ == "__main__":
    main()
