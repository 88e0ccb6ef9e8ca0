"""Benchmark: training-step throughput of the dense vs the sparse MLM head (mlmkit.train.objectives).

One full step (forward, backward, AdamW step) of a BertForMaskedLM preset from mlmkit.models.factory,
with the real BERT vocabulary size (30,522 ids: the projection to the vocabulary is what the sparse
head saves) on a batch whose labels sit at exactly round(masking_rate x length) random positions per
row. Token identities do not change the cost, so ids are drawn from a seeded generator.
The variants run in the same process, interleaved round by round, so load from other processes hits
them alike; the ratio to the dense head of the same run is what to compare (STYLE §3.8).

Run:  python benchmarks/train_step.py                          (writes benchmarks/results/train_step.md)
      python benchmarks/train_step.py --sizes mini,small --seq-lens 128,512 --json rows.jsonl
Add a variant: one entry in VARIANTS (a function building the training module from the HF model);
add a column: one key in the row dict of `measure` (the JSON rows carry every key).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import torch

from mlmkit.models.factory import SIZES
from mlmkit.train.objectives import MLMObjective

REPO = Path(__file__).resolve().parents[1]
VOCAB_SIZE = 30522  # BERT's uncased WordPiece

# Variant name -> builder of the module the loop trains, from a fresh HF masked-LM model.
VARIANTS: dict[str, Callable[[torch.nn.Module], torch.nn.Module]] = {
    "dense": lambda model: MLMObjective(sparse=False).wrap(model),
    "sparse": lambda model: MLMObjective(sparse=True).wrap(model),
}


def make_batch(batch_size: int, seq_len: int, masking_rate: float, seed: int) -> dict[str, torch.Tensor]:
    """Random ids with [CLS]/[SEP] at the ends and exactly round(rate x maskable) labels per row."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1000, VOCAB_SIZE, (batch_size, seq_len), generator=generator)  # (B, T)
    input_ids[:, 0], input_ids[:, -1] = 101, 102
    scores = torch.rand(batch_size, seq_len, generator=generator)
    scores[:, [0, -1]] = 2.0  # never pick the specials
    count = max(1, round(masking_rate * (seq_len - 2)))
    picked = scores.argsort(dim=1)[:, :count]  # (B, count)
    labels = torch.full_like(input_ids, -100).scatter(1, picked, input_ids.gather(1, picked))
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": labels}


def build(variant: str, size: str, seq_len: int, seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(vocab_size=VOCAB_SIZE, max_position_embeddings=max(512, seq_len), **SIZES[size])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = VARIANTS[variant](BertForMaskedLM(config))
    return module, torch.optim.AdamW(module.parameters(), lr=1e-4)


def step(module: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor]) -> float:
    start = time.perf_counter()
    module(**batch)["loss"].backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def measure(size: str, seq_len: int, batch_size: int, masking_rate: float, rounds: int, warmup: int) -> list[dict[str, Any]]:
    """Interleaved rounds of every variant on the same batch; one row per variant."""
    batch = make_batch(batch_size, seq_len, masking_rate, seed=0)
    runs = {name: build(name, size, seq_len, seed=0) for name in VARIANTS}
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for round_index in range(warmup + rounds):
        for name, (module, optimizer) in runs.items():
            elapsed = step(module, optimizer, batch)
            if round_index >= warmup:
                times[name].append(elapsed)
    tokens = batch_size * seq_len
    labelled = int((batch["labels"] != -100).sum())
    rows = []
    for name, seconds in times.items():
        median = statistics.median(seconds)
        quantiles = statistics.quantiles(seconds, n=10) if len(seconds) > 1 else [median] * 9
        rows.append({
            "variant": name, "size": size, "seq_len": seq_len, "batch_size": batch_size,
            "masking_rate": labelled / (batch_size * (seq_len - 2)), "tokens_per_s": tokens / median,
            "step_s_median": median, "step_s_p10": quantiles[0], "step_s_p90": quantiles[-1], "n": len(seconds),
        })
    dense = next(row for row in rows if row["variant"] == "dense")["tokens_per_s"]
    for row in rows:
        row["ratio_to_dense"] = row["tokens_per_s"] / dense
    return rows


def environment(threads: int) -> dict[str, Any]:
    import transformers

    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"{platform.processor() or platform.machine()} CPU"
    return {"git_sha": sha, "device": device, "torch": torch.__version__, "transformers": transformers.__version__,
            "threads": threads}


def markdown(rows: list[dict[str, Any]], env: dict[str, Any]) -> str:
    lines = [
        "# Training step: dense vs sparse MLM head",
        "",
        f"`python benchmarks/train_step.py` on {env['device']}, {env['threads']} torch thread(s), torch {env['torch']}, "
        f"transformers {env['transformers']}, git {env['git_sha']}. BertForMaskedLM presets, vocabulary {VOCAB_SIZE}; "
        "one step = forward + backward + AdamW; median of interleaved rounds.",
        "",
        "| size | seq_len | batch | masking rate | variant | tokens/s | step s (p10–p90) | ratio to dense |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['size']} | {row['seq_len']} | {row['batch_size']} | {row['masking_rate']:.3f} | {row['variant']} | "
            f"{row['tokens_per_s']:.0f} | {row['step_s_median']:.3f} ({row['step_s_p10']:.3f}–{row['step_s_p90']:.3f}) | "
            f"{row['ratio_to_dense']:.2f}× |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="mini", help="comma-separated presets of mlmkit.models.factory.SIZES")
    parser.add_argument("--seq-lens", default="128", help="comma-separated sequence lengths")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--masking-rate", type=float, default=0.15)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "train_step.md")
    parser.add_argument("--json", type=Path, help="also write one JSON row per variant and shape to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    env = environment(args.threads)
    rows = []
    for size in args.sizes.split(","):
        for seq_len in (int(value) for value in args.seq_lens.split(",")):
            rows += measure(size, seq_len, args.batch_size, args.masking_rate, args.rounds, args.warmup)
            print(markdown(rows, env).splitlines()[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(rows, env), encoding="utf-8")
    if args.json:
        args.json.write_text("".join(json.dumps({**env, **row}) + "\n" for row in rows), encoding="utf-8")
    print(markdown(rows, env))


if __name__ == "__main__":
    main()
