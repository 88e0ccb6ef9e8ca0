"""Toy-scale quality check of 3ML late-mask pretraining (issue 8): held-out MLM accuracy per second.

Pretrains `recipes/tiny-cpu.yaml` (standard BERT-tiny, 15%) and `recipes/3ml-tiny-cpu.yaml`
(late-mask, 50%, [MASK]s join at the last of 2 layers) on one shared tokenizer and one shared set of
blocks from the embedded corpus, with the same steps, batch, optimiser and seed. Each run's own
held-out evaluation masks at its own rate, which makes the two incomparable; so every saved
checkpoint is also scored under one COMMON masking: random 15%, [MASK] only, fixed seed; both
layouts (in place for the standard model, late-mask for 3ML) then mask exactly the same positions.

Writes OUT/standard, OUT/late_mask (the runs), OUT/<run>-common15/metrics.jsonl (the common curve,
readable by `mlmkit plot`), OUT/curves.png and OUT/summary.json: accuracy of both at the same
wall-clock second (the shorter run's end, the longer run's curve interpolated) and at the end, with
the common held-out loss beside it (at toy budgets accuracy can sit at the unigram baseline for both).

Run:  python benchmarks/late_mask_toy.py --out runs/late-mask-toy            (2 × 300 steps)
      python benchmarks/late_mask_toy.py --out /tmp/toy --max-steps 20      (a smoke run)
Wall-clock numbers depend on the machine's load; run nothing else meanwhile, or, on a shared machine,
train both at once so that they share its load (finished runs are reused; the last call compares):
      python benchmarks/late_mask_toy.py --out T --runs standard --threads 1 &
      python benchmarks/late_mask_toy.py --out T --runs late_mask --threads 1; wait
      python benchmarks/late_mask_toy.py --out T
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
RECIPES = {"standard": REPO / "recipes" / "tiny-cpu.yaml", "late_mask": REPO / "recipes" / "3ml-tiny-cpu.yaml"}
COMMON = {"mlm_probability": 0.15, "mask_replace_prob": 1.0, "random_replace_prob": 0.0, "seed": 12345}


def shared_inputs(out: Path, seq_len: int = 128) -> tuple[Any, Path, Path, Any]:
    """One tokenizer and one prepared dataset for both runs: (tokenizer, its folder, data folder, held-out blocks)."""
    from mlmkit.data.corpus import default_corpus_path
    from mlmkit.data.pipeline import prepare_dataset
    from mlmkit.data.tokenizer import train_tokenizer

    corpus = [default_corpus_path()]
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(corpus, "wordpiece", 4000, out / "tokenizer", lowercase=True).tokenizer
    prepared = prepare_dataset(tokenizer, seq_len=seq_len, out_dir=out / "data", corpus_files=corpus, validation_fraction=0.05)
    return tokenizer, out / "tokenizer", prepared.path, prepared.dataset["validation"]


def pretrain_run(name: str, out: Path, inputs: tuple[Path, Path], max_steps: int, every: int, batch_size: int | None) -> Path:
    """Pretrain one recipe on the shared (tokenizer, data) folders, keeping a checkpoint every `every` steps."""
    from mlmkit.config import load_recipe
    from mlmkit.train import pretrain

    run_dir = out / name
    overrides = [
        f"tokenizer.path={inputs[0]}", f"data.path={inputs[1]}", f"output_dir={run_dir}",
        f"train.max_steps={max_steps}", f"train.save_every={every}", f"train.eval_every={every}",
        f"train.keep_checkpoints={max_steps // every + 1}",
    ] + ([f"train.batch_size={batch_size}"] if batch_size else [])
    if not (run_dir / "final" / "config.json").is_file():
        pretrain(load_recipe(RECIPES[name], overrides), resume=False)
    return run_dir


@torch.no_grad()
def common_curve(name: str, run_dir: Path, tokenizer: Any, validation: Any) -> list[dict[str, Any]]:
    """The COMMON held-out score of every checkpoint of a run, with its training seconds."""
    from accelerate import Accelerator
    from transformers import AutoModelForMaskedLM

    from mlmkit.collators import build_collator
    from mlmkit.models.late_mask import LateMaskForMaskedLM
    from mlmkit.train.checkpoint import complete_checkpoints
    from mlmkit.train.metrics import evaluate
    from mlmkit.train.objectives import build_objective

    output = "late_mask" if name == "late_mask" else "mlm"
    collator = build_collator("random", tokenizer, output=output, **COMMON)
    rows = []
    for checkpoint in complete_checkpoints(run_dir):
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        folder = checkpoint / "model"
        model = LateMaskForMaskedLM.from_pretrained(folder) if name == "late_mask" else AutoModelForMaskedLM.from_pretrained(folder)
        accelerator = Accelerator(cpu=True)
        loader = torch.utils.data.DataLoader(validation, batch_size=64, collate_fn=collator)
        module, loader = accelerator.prepare(build_objective(model).wrap(model), loader)
        result = evaluate(accelerator, module, loader, collator, len(tokenizer))
        rows.append({"step": state["step"], "seconds": state["seconds"], **result})
    return rows


def value_at(rows: list[dict[str, Any]], key: str, seconds: float) -> float:
    """Linear interpolation of `key` over training seconds (flat before the first checkpoint and after the last)."""
    points = sorted((row["seconds"], row[key]) for row in rows)
    if seconds <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if seconds <= x1:
            return y0 + (y1 - y0) * (seconds - x0) / (x1 - x0)
    return points[-1][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/late-mask-toy"))
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--every", type=int, default=50, help="checkpoint (and common evaluation) interval in steps")
    parser.add_argument("--batch-size", type=int, default=None, help="override both recipes' train.batch_size")
    parser.add_argument("--runs", nargs="+", choices=list(RECIPES), default=list(RECIPES), help="train only these")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from mlmkit.train.plot import plot_runs

    tokenizer, tokenizer_dir, data_dir, validation = shared_inputs(args.out)
    every = min(args.every, args.max_steps)
    for name in args.runs:
        pretrain_run(name, args.out, (tokenizer_dir, data_dir), args.max_steps, every, args.batch_size)
    if set(args.runs) != set(RECIPES):
        return
    curves = {}
    for name in RECIPES:
        curves[name] = common_curve(name, args.out / name, tokenizer, validation)
        common_dir = args.out / f"{name}-common15"
        common_dir.mkdir(parents=True, exist_ok=True)
        (common_dir / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in curves[name]), encoding="utf-8")
    same_second = min(rows[-1]["seconds"] for rows in curves.values())
    summary = {
        "common_masking": COMMON,
        "seconds_compared": same_second,
        "at_same_second": {
            name: {key: value_at(rows, key, same_second) for key in ("eval_accuracy", "eval_loss")} for name, rows in curves.items()
        },
        "final": {name: {key: rows[-1][key] for key in ("step", "seconds", "eval_accuracy", "eval_loss")} for name, rows in curves.items()},
        "curves": curves,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    runs = [str(args.out / name) for name in RECIPES] + [str(args.out / f"{name}-common15") for name in RECIPES]
    plot_runs(runs, str(args.out / "curves.png"))
    print(json.dumps({key: summary[key] for key in ("seconds_compared", "at_same_second", "final")}, indent=1))


if __name__ == "__main__":
    main()
