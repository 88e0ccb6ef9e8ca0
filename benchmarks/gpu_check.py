"""One-shot device check: mlmkit's training steps beside Hugging Face's own recipe, on one GPU, in one run.

At BERT-base size (ModernBERT-base for (e)), each strategy trains a few steps on packed blocks of the
embedded WikiText-2 corpus, with a DataLoader of 4 workers feeding it, at each sequence length:
  (a) hf                 Hugging Face's recipe: BertForMaskedLM + DataCollatorForLanguageModeling under
                         Trainer (bf16, SDPA, its defaults otherwise: fused AdamW, clipping at 1.0)
  (b) dense              mlmkit's step (mlmkit.train.loop: bf16 autocast, fused AdamW, clipping at 1.0),
                         random 15% masking, the dense head, SDPA
  (c) sparse_compiled    (b) with the sparse head, documents kept apart (torch_varlen: PyTorch's
                         FlashAttention varlen kernel, attention dropout 0) and train.compile
  (c') sparse_compiled_mask  (c) with documents kept apart by an SDPA block mask instead
  (d) late_mask          3ML late-mask at 50% [MASK]-only, the [MASK]s joining for the last k=2 layers
  (e) modernbert         ModernBERT-base, sparse head, unpadded per document (torch_varlen)
Reported per strategy and length: tokens/s, MFU (model FLOPs counted by FlopCounterMode on one step,
against the device's dense bf16 peak: mlmkit.train.throughput) and the attention kernels' share of those
FLOPs (0 where the kernel has no FLOP formula), peak GPU memory, the share of step time spent waiting for
the DataLoader, and the collator's CPU time per batch over 4 workers' step time. The targets of issue 22
are checked at the end of the table.

Made for a first, unattended run: the data is prepared once, then every case runs in its own process
(one CUDA context each) under a time box and an overall budget; a case that fails, hangs or runs out of
time becomes a row saying so, and the table is printed and written (markdown + JSON) after every case.
Cases run in priority order (length 512 first: the targets' lengths), so a budget cut drops the least
needed ones. Needs only torch, transformers, tokenizers, accelerate and numpy (not `datasets`).

Run:  python benchmarks/gpu_check.py                      (one GPU, <= 8 minutes; writes
                                                          benchmarks/results/gpu_check.md and .json)
      python benchmarks/gpu_check.py --smoke --out-dir /tmp/check   (CPU, tiny sizes, a few steps: CI)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gpu_check_cases import REPO, STRATEGIES, prepare, run_case

# Run order: the targets' cases first, longest length first (a budget cut drops the last); then (e) and (c').
CASE_GROUPS = (("dense", "hf", "sparse_compiled", "late_mask"), ("modernbert",), ("sparse_compiled_mask",))
DEFAULT_CASES = ",".join(name for group in CASE_GROUPS for name in group)


# ---------------------------------------------------------------- the report


def row_line(row: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """One table line: a measured row, or what became of a case that was not measured."""
    if row["status"] != "ok":
        return f"| ({row['letter']}) | {row['strategy']} | {row['seq_len']} | | | | | | | | | | {row['status']} |"
    percent = lambda value: "–" if value is None else f"{100 * value:.1f}%"  # noqa: E731
    baseline = next((other for other in rows if other["case"] == "hf" and other["seq_len"] == row["seq_len"] and other["status"] == "ok"), None)
    ratio = f"{row['tokens_per_s'] / baseline['tokens_per_s']:.2f}" if baseline else "–"
    memory = "–" if row["peak_memory_gib"] is None else f"{row['peak_memory_gib']:.1f}"
    return (
        f"| ({row['letter']}) | {row['strategy']} | {row['seq_len']} | {row['batch_size']} | {row['tokens_per_s']:,.0f} | {ratio} | "
        f"{row['step_s_median']:.4f} | {percent(row['mfu'])} | {percent(row['attention_flops_share'])} | {memory} | "
        f"{percent(row['loader_wait_share'])} | {percent(row['collate_share'])} | ok |"
    )


def markdown(rows: list[dict[str, Any]], env: dict[str, Any]) -> str:
    lines = [
        "# Device check: mlmkit's steps beside Hugging Face's recipe",
        "",
        f"`{env['command']}` on {env['device']}, torch {env['torch']}, transformers {env['transformers']}, git {env['git_sha']}, "
        f"{env['workers']} DataLoader workers, {env['tokens_per_step']} tokens per step, {env['steps']} measured steps after "
        f"{env['warmup']} warm-up. MFU: FlopCounterMode's model FLOPs of one step over the dense bf16 peak; "
        "attn: the attention kernels' share of those FLOPs (0: no FLOP formula for the kernel, attention left out). "
        "Loader wait: the share of step time spent waiting for the next batch; collate CPU: one collator call's "
        "CPU time over the workers' step time.",
        "",
        "| case | strategy | seq | batch | tokens/s | × (a) | step s | MFU | attn | peak GiB | loader wait | collate CPU / workers | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(row_line(row, rows) for row in sorted(rows, key=lambda row: (row["seq_len"], list(STRATEGIES).index(row["case"])))),
    ]
    return "\n".join(lines + ["", "## Targets (issue 22)", "", *target_lines(rows)]) + "\n"


def target_lines(rows: list[dict[str, Any]]) -> list[str]:
    ok = {(row["case"], row["seq_len"]): row for row in rows if row["status"] == "ok"}

    def verdict(held: bool) -> str:
        return "meets" if held else "MISSES"

    lines = []
    for seq_len, least in ((128, 2.0), (512, 1.5)):
        c, a = ok.get(("sparse_compiled", seq_len)), ok.get(("hf", seq_len))
        if c and a:
            ratio = c["tokens_per_s"] / a["tokens_per_s"]
            lines.append(f"- (c) / (a) tokens/s at {seq_len}: {ratio:.2f}× ({verdict(ratio >= least)} ≥ {least}×)")
        else:
            lines.append(f"- (c) / (a) tokens/s at {seq_len}: not measured")
        if c and c["mfu"] is not None:
            lines.append(f"- MFU of (c) at {seq_len}: {100 * c['mfu']:.1f}% ({verdict(c['mfu'] >= 0.40)} ≥ 40%)")
    d, b = ok.get(("late_mask", 512)), ok.get(("dense", 512))
    if d and b:
        ratio = d["step_s_median"] / b["step_s_median"]
        lines.append(f"- (d) / (b) step time at 512: {ratio:.2f} ({verdict(ratio <= 0.65)} ≤ 0.65; the FLOP ratio is 0.55)")
    else:
        lines.append("- (d) / (b) step time at 512: not measured")
    slow = [f"({row['letter']}) at {row['seq_len']}" for row in ok.values() if row["loader_wait_share"] >= 0.02]
    lines.append(f"- DataLoader wait < 2% of the step for every strategy: {verdict(not slow) if ok else 'not measured'}"
                 + (f" (not for {', '.join(slow)})" if slow else ""))  # fmt: skip
    return lines


def environment(args: argparse.Namespace, rows: list[dict[str, Any]]) -> dict[str, Any]:
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    measured_row = next((row for row in rows if "device" in row), {})
    return {
        "command": "python benchmarks/gpu_check.py " + " ".join(sys.argv[1:]), "git_sha": sha or "?",
        "device": measured_row.get("device", args.device), "torch": measured_row.get("torch", "?"),
        "transformers": measured_row.get("transformers", "?"), "workers": args.workers, "tokens_per_step": args.tokens_per_step,
        "steps": args.steps, "warmup": args.warmup,
    }  # fmt: skip


def write_report(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    env = environment(args, rows)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.md").write_text(markdown(rows, env), encoding="utf-8")
    (out / "gpu_check.json").write_text(json.dumps({"environment": env, "rows": rows}, indent=1) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- the orchestration (no torch here)


def child(args: argparse.Namespace, *task: str, time_box: float) -> tuple[str, str]:
    """Run this script on `task` in a new process (and process group) for at most `time_box` seconds.

    Returns:
        (status, last line of its output): "ok", "timeout after N s" or "failed (exit N)".
    """
    time_box = max(time_box, 1.0)
    log = Path(args.workdir) / f"log-{'-'.join(task)}.txt"
    forwarded = [f"--{key.replace('_', '-')}={value}" for key, value in vars(args).items() if key in FORWARDED and value is not None]
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *task, "--seq-lens", ",".join(map(str, args.seq_lens)), *forwarded]
    environment = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
                   "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    with open(log, "w", encoding="utf-8") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, env=environment)
        # Stopped from outside (`timeout`, Ctrl-C): take the case's process group down too, then stop.
        stop = lambda number, frame: (os.killpg(process.pid, signal.SIGKILL), sys.exit(128 + number))  # noqa: E731
        previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGINT)}
        try:
            code = process.wait(timeout=time_box)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the case and its DataLoader and compile workers
            process.wait()
            code = None
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
    lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    last = lines[-1][:300] if lines else ""
    if code is None:
        return f"timeout after {time_box:.0f} s", last
    return ("ok" if code == 0 else f"failed (exit {code})"), last


FORWARDED = ("device", "workdir", "tokens_per_step", "steps", "warmup", "workers", "vocab_size", "release_vocab", "corpus_repeats",
             "corpus_chars", "size", "compile_backend", "peak_tflops")  # fmt: skip


def orchestrate(args: argparse.Namespace) -> list[dict[str, Any]]:
    started = time.monotonic()
    status, last = child(args, "prepare", time_box=args.budget_s / 4)
    if status != "ok":
        raise SystemExit(f"data preparation {status}: {last}")
    rows: list[dict[str, Any]] = []
    order = [(name, length) for group in CASE_GROUPS for length in sorted(args.seq_lens, reverse=True) for name in group if name in args.cases]
    for name, seq_len in order:
        strategy, left = STRATEGIES[name], args.budget_s - (time.monotonic() - started)
        row = {"case": name, "letter": strategy.letter, "strategy": strategy.title, "seq_len": seq_len}
        if left < min(strategy.time_box_s, 30):
            rows.append({**row, "status": f"skipped: {left:.0f} s of the budget left"})
        else:
            status, last = child(args, "case", name, str(seq_len), time_box=min(strategy.time_box_s * args.time_box_scale, left))
            result = Path(args.workdir) / f"result-{name}-{seq_len}.json"
            rows.append(json.loads(result.read_text()) if status == "ok" and result.is_file() else {**row, "status": f"{status}: {last}"})
        print(row_line(rows[-1], rows), flush=True)
        write_report(args, rows)
    return rows


def run_child(args: argparse.Namespace, task: list[str]) -> None:
    if task[0] == "prepare":
        prepare(args)
        return
    import platform

    import torch
    import transformers

    name, seq_len = task[1], int(task[2])
    row = run_case(args, name, seq_len)
    device = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else f"{platform.machine()} CPU"
    row.update(device=device, torch=torch.__version__, transformers=transformers.__version__)
    (Path(args.workdir) / f"result-{name}-{seq_len}.json").write_text(json.dumps(row), encoding="utf-8")


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str] | None]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny sizes, a few steps, one length (what CI runs)")
    parser.add_argument("--cases", default=DEFAULT_CASES, help=f"comma-separated, of {list(STRATEGIES)}")
    parser.add_argument("--seq-lens", help="comma-separated lengths (default 128,512; --smoke: 64)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", default="base", help="mlmkit.models.factory size preset")
    parser.add_argument("--tokens-per-step", type=int, default=32768, help="batch = this // length")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--vocab-size", type=int, default=30522, help="the tokenizer's vocabulary")
    parser.add_argument("--release-vocab", type=int, default=1, help="1: the models keep their released vocabularies "
                        "(BERT 30,522, ModernBERT 50,368: the head's real cost); 0: the tokenizer's")
    parser.add_argument("--corpus-repeats", type=int, default=4, help="passes over the corpus packed into blocks")
    parser.add_argument("--corpus-chars", type=int, default=0, help="use only the first documents, about this many characters (0: all)")
    parser.add_argument("--compile-backend", default="inductor")
    parser.add_argument("--peak-tflops", type=float, help="override the device's dense bf16 peak")
    parser.add_argument("--budget-s", type=float, default=450, help="the whole run's time, data preparation included")
    parser.add_argument("--time-box-scale", type=float, default=1.0, help="scales each case's time box (80 s, compiled 170 s)")
    parser.add_argument("--out-dir", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--workdir", help="where data and logs go (default: a temporary folder)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.device, args.size, args.tokens_per_step, args.steps, args.warmup, args.workers = "cpu", "tiny", 128, 2, 1, 2
        args.vocab_size, args.release_vocab, args.corpus_chars, args.compile_backend = 1000, 0, 60000, "eager"
        args.cases = args.cases if args.cases != DEFAULT_CASES else "hf,dense,sparse_compiled,late_mask,modernbert"
    args.seq_lens = [int(value) for value in (args.seq_lens or ("64" if args.smoke else "128,512")).split(",")]
    args.cases = args.cases.split(",")
    unknown = [name for name in args.cases if name not in STRATEGIES]
    if unknown:
        raise SystemExit(f"--cases: {unknown[0]!r} is not one of {list(STRATEGIES)}")
    if args.warmup < 1 or args.steps < 1:
        raise SystemExit("--warmup and --steps must be at least 1")
    return args, args.child


def main(argv: list[str] | None = None) -> None:
    args, task = parse_args(argv)
    if task:
        run_child(args, task)
        return
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as temporary:
        args.workdir = args.workdir or temporary
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        rows = orchestrate(args)
    print(markdown(rows, environment(args, rows)))
    print(f"written: {Path(args.out_dir) / 'gpu_check.md'} and gpu_check.json")


if __name__ == "__main__":
    main()
