"""Why tiny masked LMs sat on the unigram plateau, and how fast the shipped tiny recipe leaves it (issue 17).

Two measurements, both with mlmkit's own loop and its one held-out measure (fixed [MASK]-only masks;
`mlmkit.eval.held_out`), against the unigram baseline (always predicting the most frequent masked token):

--study   candidate changes to the tiny recipe, each a list of recipe overrides (VARIANTS), trained for
          the same number of tokens with held-out evaluation every --eval-every steps. Curves are per
          step, so the runs may share the machine (--parallel; each run gets one torch thread).
--curve   the shipped recipe as it is, alone, with --threads torch threads, for --minutes of training:
          held-out accuracy against training seconds with the unigram line, and the second at which it
          first reaches 2× the baseline (the issue's target: within 3 minutes on an idle 2-core machine);
          then `mlmkit glue --task sst2` (the shipped sample, 3 seeds) of the pretrained model and of the
          no-pretraining control (the same initial weights, untrained).

--study --seeds 0 1 2 ...   the same for several training seeds (initial weights, data order, masks): whether
          leaving the plateau is a property of the recipe or luck of one seed.

Writes benchmarks/results/tiny_recipe_study.{json,md} (tiny_recipe_seeds.{json,md} with --seeds) and
tiny_recipe_curve.{json,png}; a study of some variants adds or replaces their rows there and keeps the others
(same steps, evaluation interval and seeds). Every run shares one tokenizer and one set of blocks, except the variants that
change them (vocabulary, length).

Run:  python benchmarks/tiny_recipe.py --study --out runs/tiny-study --parallel 2
      python benchmarks/tiny_recipe.py --study --out runs/tiny-seeds --variants shipped heads-2 --seeds 0 1 2 3 4 --steps 600
      python benchmarks/tiny_recipe.py --curve --out runs/tiny-curve --minutes 3 --threads 2   (idle machine)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
RECIPE = REPO / "mlmkit" / "recipes" / "tiny-cpu.yaml"
WIKITEXT_TEST = REPO.parent / "shared" / "data" / "corpus" / "wikitext-2-raw" / "wiki.test.raw"

MASK_15 = "collator.options.mlm_probability=0.15"  # BERT's rate (the recipe masks 30%)
# HF's BertForMaskedLM (post-LN) at the tiny recipe's width and depth (BERT-Tiny: 2 heads of 64), lr 3e-3, 15%.
BERT_MODEL = ["model.family=bert", "model.config={hidden_dropout_prob: 0.0, attention_probs_dropout_prob: 0.0}"]
BERT = [*BERT_MODEL, MASK_15]
# The same BERT with its LayerNorms before each sub-layer instead of after (transformers' XLM-RoBERTa-XL
# layer, 995,360 parameters like BERT-tiny): isolates pre-LN from ModernBERT's other changes.
PRELN_BERT = ["model.family=auto", "model.config={model_type: xlm-roberta-xl, hidden_dropout_prob: 0.0, attention_probs_dropout_prob: 0.0}", MASK_15]
# The same post-LN BERT with rotary position embeddings (Su et al. 2021) instead of learned absolute ones:
# transformers' RoFormer layer. Isolates relative positions from ModernBERT's other changes.
ROPE_BERT = ["model.family=auto", "model.config={model_type: roformer, hidden_dropout_prob: 0.0, attention_probs_dropout_prob: 0.0}", MASK_15]
MASK_ONLY = ["collator.options.mask_replace_prob=1.0", "collator.options.random_replace_prob=0.0"]
# Each variant: (what it tests, recipe overrides on top of the shipped tiny recipe, steps multiplier).
VARIANTS: dict[str, tuple[str, list[str], float]] = {
    "shipped": ("the shipped tiny recipe (ModernBERT, 4 heads of 32, 30% masking)", [], 1.0),
    "mask-15": ("15% masking (BERT's rate) instead of 30%", [MASK_15], 1.0),
    "mask-15-heads-2": ("15% masking and 2 heads of 64 (the recipe before the seed study)",
                        [MASK_15, "model.config={num_attention_heads: 2}"], 1.0),
    "mask-15-heads-8": ("15% masking and 8 heads of 16", [MASK_15, "model.config={num_attention_heads: 8}"], 1.0),
    "mask-15-constant-lr": ("15% masking, lr held at 3e-3 after the warm-up instead of a linear decay to 0",
                            [MASK_15, "train.lr_scheduler_type=constant_with_warmup"], 1.0),
    "heads-2": ("2 heads of 64 instead of 4 of 32 (Turc et al.'s H/64; same width and cost)", ["model.config={num_attention_heads: 2}"], 1.0),
    "bert": ("post-LN BERT (HF BertForMaskedLM) instead of pre-LN ModernBERT, lr 3e-3, 15%", BERT, 1.0),
    "bert-lr-1e-3": ("post-LN BERT at lr 1e-3, 15% (the old tiny recipe)", [*BERT, "train.lr=1e-3"], 1.0),
    "bert-warmup-30": ("post-LN BERT with 30% warm-up, 15%", [*BERT, "train.warmup_ratio=0.3"], 1.0),
    "bert-init-0.1": ("post-LN BERT with initializer_range 0.1 (5× BERT's), 15%",
                      ["model.family=bert", "model.config={hidden_dropout_prob: 0.0, attention_probs_dropout_prob: 0.0, initializer_range: 0.1}", MASK_15], 1.0),
    "bert-mask-only": ("post-LN BERT trained with [MASK] only, 15%", [*BERT, *MASK_ONLY], 1.0),
    "bert-mask-30": ("post-LN BERT at 30% masking", [*BERT_MODEL, "collator.options.mlm_probability=0.3"], 1.0),
    "preln-bert": ("BERT with pre-LN only (XLM-R-XL's layer: BERT's weights, parameter count, absolute positions "
                   "and GELU, the LayerNorms moved before each sub-layer), 15%", PRELN_BERT, 1.0),
    "preln-bert-lr-1e-3": ("pre-LN BERT at lr 1e-3, 15%", [*PRELN_BERT, "train.lr=1e-3"], 1.0),
    "rope-bert": ("post-LN BERT with rotary positions instead of learned absolute ones (RoFormer's layer), 15%", ROPE_BERT, 1.0),
    "rope-bert-lr-1e-3": ("RoFormer at lr 1e-3, 15%", [*ROPE_BERT, "train.lr=1e-3"], 1.0),
    "lr-1e-3": ("lr 1e-3 instead of 3e-3", ["train.lr=1e-3"], 1.0),
    "mask-only": ("[MASK] only instead of 80/10/10", MASK_ONLY, 1.0),
    "seq-64": ("blocks of 64 tokens, batch 64 (the same tokens per step)", ["data.seq_len=64", "train.batch_size=64"], 1.0),
    "batch-16": ("batch 16, twice the steps (the same tokens)", ["train.batch_size=16"], 2.0),
    "vocab-8000": ("an 8,000-piece vocabulary", ["tokenizer.vocab_size=8000"], 1.0),
    "corpus-x2": ("twice the text: WikiText-2 test added to the embedded corpus", [f"data.corpus=[{{embedded}}, {WIKITEXT_TEST}]"], 1.0),
}
# Variants that need their own tokenizer or blocks (the others share the shipped run's).
OWN_DATA = {"seq-64", "vocab-8000", "corpus-x2"}


def run_recipe(out: Path, overrides: list[str], threads: int) -> list[dict]:
    """`mlmkit pretrain` of the tiny recipe with `overrides` in a subprocess with `threads` torch threads."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "mlmkit", "pretrain", str(RECIPE), *overrides, f"output_dir={out}"]
    with open(out.parent / f"{out.name}.log", "w") as log:
        subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]


def shared_inputs(out: Path, steps: int) -> list[str]:
    """Prepare the shipped recipe's tokenizer and blocks once (a 1-step run); overrides that reuse them."""
    base = out / "inputs"
    if not (base / "final").is_dir():
        base.parent.mkdir(parents=True, exist_ok=True)
        run_recipe(base, ["train.max_steps=1", "train.eval_every=1"], threads=2)
    return [f"tokenizer.path={base / 'tokenizer'}", f"data.path={base / 'data'}"]


def evals(rows: list[dict]) -> list[dict]:
    return [row for row in rows if "eval_accuracy" in row]


def study(args: argparse.Namespace) -> None:
    from mlmkit.data.corpus import default_corpus_path

    shared = shared_inputs(args.out, args.steps)

    by_seed = args.seeds != [0]
    runs = {(f"{name} seed {seed}" if by_seed else name): (name, seed) for name in args.variants or list(VARIANTS)
            for seed in args.seeds}

    def one(run_name: str) -> tuple[str, list[dict]]:
        name, seed = runs[run_name]
        _, overrides, scale = VARIANTS[name]
        overrides = [o.replace("{embedded}", str(default_corpus_path())) for o in overrides]
        steps = round(args.steps * scale)
        every = max(1, round(args.eval_every * scale))
        own = [] if name in OWN_DATA else shared
        run = args.out / run_name.replace(" ", "-")
        if not (run / "final").is_dir():
            rows = run_recipe(run, [*own, *overrides, f"train.seed={seed}", f"train.max_steps={steps}",
                                    f"train.eval_every={every}", f"train.save_every={steps}"], threads=1)
        else:
            rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        print(run_name, [round(r["eval_accuracy"] / r["eval_unigram_accuracy"], 2) for r in evals(rows)], flush=True)
        return run_name, rows

    with ThreadPoolExecutor(args.parallel) as pool:
        results = dict(pool.map(one, runs))
    rows = {name: [{key: row[key] for key in ("step", "eval_accuracy", "eval_unigram_accuracy", "eval_loss",
                                               "eval_whole_word_accuracy")} | {"tokens_seen": _tokens(rows, row["step"])}
                   for row in evals(rows)] for name, rows in results.items()}
    record = {"steps": args.steps, "eval_every": args.eval_every, "seeds": args.seeds,
              "variants": {n: VARIANTS[runs[n][0]][0] for n in rows}, "overrides": {n: VARIANTS[runs[n][0]][1] for n in rows},
              "curves": rows, "load_average": [list(os.getloadavg())]}
    stem = "tiny_recipe_seeds" if by_seed else "tiny_recipe_study"
    record = _merged(RESULTS / f"{stem}.json", record)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(record, indent=1) + "\n")
    (RESULTS / f"{stem}.md").write_text(study_markdown(record))
    print((RESULTS / f"{stem}.md").read_text())


def _merged(path: Path, record: dict) -> dict:
    """`record` with the variants of an earlier study of the same steps, evaluation interval and seeds kept
    (a study of some variants adds or replaces their rows; the results file keeps the rest)."""
    if not path.is_file():
        return record
    earlier = json.loads(path.read_text())
    if any(earlier.get(key) != record[key] for key in ("steps", "eval_every", "seeds")):
        return record
    loads = earlier["load_average"]
    loads = [loads] if loads and not isinstance(loads[0], list) else loads  # files written before merging: one triple
    return record | {key: {**earlier[key], **record[key]} for key in ("variants", "overrides", "curves")} | {
        "load_average": [*loads, *record["load_average"]]}


def _tokens(rows: list[dict], step: int) -> int | None:
    seen = [row["tokens_seen"] for row in rows if row.get("step") == step and "tokens_seen" in row]
    return seen[0] if seen else None


def study_markdown(record: dict) -> str:
    marks = sorted({row["step"] for rows in record["curves"].values() for row in rows})
    quarter = [marks[len(marks) // 4 - 1], marks[len(marks) // 2 - 1], marks[-1]] if len(marks) >= 4 else marks
    lines = [
        "# Tiny recipe: what leaves the unigram plateau",
        "",
        f"Held-out token accuracy / unigram baseline (the one held-out measure) after the same tokens as "
        f"{record['steps']} steps of 32 × 128; every variant is the shipped tiny recipe with one change; training "
        f"seed{'s' if len(record['seeds']) > 1 else ''} {', '.join(map(str, record['seeds']))}. "
        f"Load average during the study: {'; '.join(', '.join(f'{x:.1f}' for x in load) for load in record['load_average'])} "
        "(one triple per study run; curves are per step, so load does not move them).",
        "",
        "| variant | what it tests | " + " | ".join(f"× baseline at {100 * m // marks[-1]}%" for m in quarter)
        + " | first step at 2× | held-out loss (end) | whole-word acc. (end) |",
        "|---|---|" + "---:|" * (len(quarter) + 3),
    ]
    for name, rows in record["curves"].items():
        by_share = {round(100 * r["step"] / rows[-1]["step"]): r for r in rows}
        cells = []
        for mark in quarter:
            share = round(100 * mark / marks[-1])
            row = by_share.get(share)
            cells.append(f"{row['eval_accuracy'] / row['eval_unigram_accuracy']:.2f}" if row else "")
        end = rows[-1]
        first = next((r["step"] for r in rows if r["eval_accuracy"] >= 2 * r["eval_unigram_accuracy"]), None)
        lines.append(f"| {name} | {record['variants'][name]} | " + " | ".join(cells) + f" | {first or 'never'}"
                     + f" | {end['eval_loss']:.3f} | {100 * end['eval_whole_word_accuracy']:.1f} |")
    return "\n".join(lines) + "\n"


def curve(args: argparse.Namespace) -> None:
    """The shipped recipe alone for --minutes: held-out accuracy against training seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probe = args.out / "pace"
    rows = run_recipe(probe, ["train.max_steps=40", "train.eval_every=40", "train.log_every=10"], args.threads)
    pace = [row for row in rows if "tokens_per_s" in row][-1]
    seconds_per_step = 32 * 128 / pace["tokens_per_s"]
    steps = round(args.minutes * 60 / seconds_per_step)
    load_before = os.getloadavg()
    started = time.perf_counter()
    rows = run_recipe(args.out / "run", [f"train.max_steps={steps}", f"train.eval_every={args.eval_every}",
                                         f"train.save_every={steps}"], args.threads)
    wall = time.perf_counter() - started
    sst2 = {name: fine_tune_sst2(folder, args.out / f"sst2-{name}", args.threads, args.sst2_rows)
            for name, folder in (("random", args.out / "run" / "final"), ("no pretraining", control_model(args.out)))}
    points = evals(rows)
    reached = next((row for row in points if row["eval_accuracy"] >= 2 * row["eval_unigram_accuracy"]), None)
    record = {
        "recipe": str(RECIPE.relative_to(REPO)), "threads": args.threads, "minutes": args.minutes, "steps": steps,
        "load_average_before": load_before, "load_average_after": os.getloadavg(), "command_seconds": round(wall, 1),
        "first_2x": None if reached is None else {key: reached[key] for key in ("step", "seconds", "eval_accuracy", "eval_unigram_accuracy")},
        "curve": [{key: row[key] for key in ("step", "seconds", "cpu_seconds", "eval_accuracy", "eval_unigram_accuracy",
                                              "eval_whole_word_accuracy", "eval_loss") if key in row} for row in points],
        "sst2": sst2,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tiny_recipe_curve.json").write_text(json.dumps(record, indent=1) + "\n")
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot([r["seconds"] for r in points], [100 * r["eval_accuracy"] for r in points], marker="o", label="held-out token accuracy")
    axis.plot([r["seconds"] for r in points], [100 * r["eval_unigram_accuracy"] for r in points], "--", color="grey", label="unigram baseline")
    axis.plot([r["seconds"] for r in points], [200 * r["eval_unigram_accuracy"] for r in points], ":", color="grey", label="2× unigram baseline")
    axis.set(xlabel="training seconds (idle 2-core CPU, evaluation excluded)", ylabel="%",
             title=f"tiny-cpu recipe, {args.threads} threads, load {load_before[0]:.2f} before")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(RESULTS / "tiny_recipe_curve.png", dpi=120)
    print(json.dumps({key: record[key] for key in ("steps", "first_2x", "load_average_before", "load_average_after", "sst2")}, indent=1))


def control_model(out: Path) -> Path:
    """The no-pretraining control: the run's initial weights (same preset, tokenizer and seed), untrained."""
    import mlmkit
    from mlmkit.data.tokenizer import save_tokenizer
    from mlmkit.models.loading import load_tokenizer

    folder = out / "control"
    if not (folder / "config.json").is_file():
        tokenizer = load_tokenizer(out / "run" / "final")
        mlmkit.masked_lm_from_preset("modernbert", "tiny", tokenizer, seed=0).save_pretrained(folder)
        save_tokenizer(tokenizer, folder)
    return folder


def fine_tune_sst2(model: Path, out: Path, threads: int, rows: int | None) -> dict:
    """`mlmkit glue --task sst2` with its defaults (the whole shipped sample unless `rows`, 3 seeds): dev accuracy per seed."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "mlmkit", "glue", "--model", str(model), "--task", "sst2", "--seeds", "1,2,3", "--out", str(out)]
    command += ["--max-train-samples", str(rows)] if rows else []
    started = time.perf_counter()
    with open(f"{out}.log", "w") as log:
        subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    results = json.loads((out / "results.json").read_text())
    return {"accuracy": [results["per_seed"]["sst2"][seed]["accuracy"] for seed in ("1", "2", "3")],
            "hparams": results["details"]["sst2"]["hparams"], "train_rows": results["details"]["sst2"]["train_rows"],
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--study", action="store_true", help="train every variant for the same tokens")
    mode.add_argument("--curve", action="store_true", help="the shipped recipe alone, held-out accuracy per second")
    parser.add_argument("--out", type=Path, default=Path("runs/tiny-recipe"))
    parser.add_argument("--variants", nargs="*", help=f"subset of {list(VARIANTS)}")
    parser.add_argument("--steps", type=int, default=1500, help="steps of batch 32 per study run (default 1500)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds of every study variant (default 0)")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=2, help="study runs at once, one thread each")
    parser.add_argument("--minutes", type=float, default=3.0, help="training minutes of the --curve run")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the --curve run")
    parser.add_argument("--sst2-rows", type=int, help="SST-2 training rows of the --curve fine-tuning (default: the whole shipped sample)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    study(args) if args.study else curve(args)


if __name__ == "__main__":
    main()
