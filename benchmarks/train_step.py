"""Benchmark: training-step FLOPs and throughput of the dense and sparse MLM heads, unpadding and 3ML late-mask.

One full step (forward, backward, AdamW step) of a masked-LM preset from mlmkit.models.factory, with the
family's real vocabulary size (BERT 30,522, RoBERTa 50,265, ModernBERT 50,368 ids: the projection to the
vocabulary is what the sparse head saves) on a batch whose labels sit at exactly round(masking_rate x
length) random positions of each row's real tokens. Token identities do not change the cost, so ids are
drawn from a seeded generator. With --padding P, row lengths are drawn uniformly from [(1 - 2P)·L, L], so
that about a share P of the batch is padding (the case unpadding addresses). Variants
(mlmkit.train.objectives, mlmkit.models.unpadding):
- dense:            the head projects every position (HF's BertForMaskedLM / ModernBertForMaskedLM);
- sparse:           the body runs on every position, the head only at labelled ones;
- dense_unpadded,
  sparse_unpadded:  the same, with the body on the real tokens only (one flattened row and a
                    variable-length attention, --varlen-attn: sdpa_varlen, or torch_varlen /
                    flash_attention_2 on a GPU);
- late_mask:        3ML (Liao et al. 2022; mlmkit.models.late_mask): the first N−k layers run on the unmasked
                    tokens only, the k late layers over the full length, the head at labelled positions;
                    the batch is the late-mask collator layout of the same labels; BERT/RoBERTa only.
A case is a family's variant at a masking rate; `--families` x `--cases` gives the cases, leaving out the
variants a family does not support, and all of them run in the same process (STYLE §3.8).

FLOPs per step come from torch.utils.flop_counter.FlopCounterMode over the first (untimed) step of
each case: exact and machine-independent (matmuls and attention; AdamW's elementwise work is not
counted). Attention runs "eager" by default because CPU SDPA kernels have no FLOP formula (their
attention FLOPs would be missed); pass --attn sdpa for timings with SDPA (FLOPs then omit attention on
CPU, and so do the unpadded variants' sdpa_varlen FLOPs). The cases run interleaved round by round, so
load from other processes hits them alike; ratios to the baseline case (the first case: the first
family's dense step at the first rate) of the same run are what to compare.

Run:  python benchmarks/train_step.py                          (writes benchmarks/results/train_step.md)
      python benchmarks/train_step.py --families bert,modernbert --sizes base --seq-lens 512 --tokens-per-step 4096 \
          --padding 0.25 --attn sdpa --cases dense@0.3,sparse@0.3,dense_unpadded@0.3,sparse_unpadded@0.3 \
          --rounds 3 --threads 2 --json rows.json             (BERT vs ModernBERT, padded vs unpadded)
      python benchmarks/train_step.py --family roberta --sizes base --seq-lens 128,512 --tokens-per-step 4096 \
          --cases dense@0.15,sparse@0.15,late_mask@0.5 --rounds 3 --threads 2 --json rows.json
                                           (the issue-8 CPU table: 6 minutes on an idle 2-core machine)
      python benchmarks/train_step.py --device cuda --attn sdpa --family roberta --sizes base,large \
          --seq-lens 128,512 --tokens-per-step 16384 --rounds 20 --warmup 3   (on a GPU, bf16 autocast)
At a few hundred tokens per step a CPU step is dominated by costs that do not scale with the tokens
(AdamW over every parameter): give it a realistic micro-batch (thousands of tokens) to compare times.
Add a variant: one entry in VARIANTS (a function building the training module from the HF model, and the
families it applies to) and, if it needs another batch layout, one in LAYOUTS; add a column: one key in
the row dict of `measure` (the JSON rows carry every key).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from mlmkit.config import LateMaskConfig
from mlmkit.masking.late_mask_output import to_late_mask
from mlmkit.models.factory import set_attention, size_preset
from mlmkit.models.late_mask import LateMaskForMaskedLM
from mlmkit.train.objectives import LateMaskObjective, MaskedLMModule

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CASES = "dense@0.15,sparse@0.15,dense@0.5,sparse@0.5,late_mask@0.5"


@dataclass(frozen=True)
class Family:
    """What the benchmark needs of a model family: its HF classes' config and its special ids."""

    vocab_size: int
    cls_id: int
    sep_id: int
    mask_id: int
    pad_id: int
    config: dict[str, Any]


FAMILIES = {
    "bert": Family(30522, 101, 102, 103, 0, {"model_type": "bert", "max_position_embeddings": 512}),  # uncased WordPiece
    "roberta": Family(50265, 0, 2, 50264, 1, {"model_type": "roberta", "max_position_embeddings": 514, "type_vocab_size": 1}),
    # answerdotai/ModernBERT-base's tokenizer ids ([CLS] 50281, [SEP] 50282, [PAD] 50283, [MASK] 50284).
    "modernbert": Family(50368, 50281, 50282, 50284, 50283, {
        "model_type": "modernbert", "max_position_embeddings": 8192, "bos_token_id": 50281, "eos_token_id": 50282,
        "cls_token_id": 50281, "sep_token_id": 50282,
    }),
}


@dataclass(frozen=True)
class Variant:
    """How a variant builds the module the loop trains (from a fresh HF model and the late-layer count), and for whom."""

    build: Callable[[torch.nn.Module, int], torch.nn.Module]
    families: tuple[str, ...] = tuple(FAMILIES)
    unpadded: bool = False  # needs the variable-length attention (--varlen-attn)


VARIANTS: dict[str, Variant] = {
    "dense": Variant(lambda model, late_layers: MaskedLMModule(model, sparse=False, unpad=False)),
    "sparse": Variant(lambda model, late_layers: MaskedLMModule(model, sparse=True, unpad=False)),
    "dense_unpadded": Variant(lambda model, late_layers: MaskedLMModule(model, sparse=False), unpadded=True),
    "sparse_unpadded": Variant(lambda model, late_layers: MaskedLMModule(model, sparse=True), unpadded=True),
    "late_mask": Variant(
        lambda model, late_layers: LateMaskObjective().wrap(LateMaskForMaskedLM(model, LateMaskConfig(late_layers))),
        ("bert", "roberta"),
    ),
}


def late_mask_layout(batch: dict[str, torch.Tensor], family: Family) -> dict[str, torch.Tensor]:
    """The late-mask collator's layout of the same labels: labelled positions become late [MASK] slots."""
    corrupted = batch["input_ids"].masked_fill(batch["labels"] != -100, family.mask_id)
    return to_late_mask(corrupted, batch["labels"], batch["attention_mask"], family.mask_id, family.pad_id)


# Variant name -> how its batch differs from the in-place MLM batch of `make_batch`.
LAYOUTS: dict[str, Callable[[dict[str, torch.Tensor], Family], dict[str, torch.Tensor]]] = {
    "late_mask": late_mask_layout,
}


def make_batch(
    batch_size: int, seq_len: int, masking_rate: float, seed: int, family: Family, padding: float = 0.0
) -> dict[str, torch.Tensor]:
    """Random ids in rows of [CLS] ... [SEP] then padding, exactly round(rate x maskable) labels per row.

    Row lengths are uniform in [(1 - 2 padding) x seq_len, seq_len] (all seq_len when padding is 0).
    """
    generator = torch.Generator().manual_seed(seed)
    shortest = max(3, round((1 - 2 * padding) * seq_len))
    lengths = torch.randint(shortest, seq_len + 1, (batch_size,), generator=generator)  # (B,)
    columns = torch.arange(seq_len)
    real = columns < lengths[:, None]  # (B, T)
    input_ids = torch.randint(1000, family.vocab_size, (batch_size, seq_len), generator=generator)  # (B, T)
    input_ids[:, 0] = family.cls_id
    input_ids[columns == lengths[:, None] - 1] = family.sep_id
    input_ids[~real] = family.pad_id
    scores = torch.rand(batch_size, seq_len, generator=generator)
    scores[(columns == 0) | (columns >= lengths[:, None] - 1)] = 2.0  # never pick the specials or padding
    counts = (masking_rate * (lengths - 2)).round().clamp(min=1)  # (B,)
    picked = scores.argsort(dim=1).argsort(dim=1) < counts[:, None]  # (B, T): each row's `count` lowest scores
    labels = torch.where(picked, input_ids, torch.full_like(input_ids, -100))
    return {"input_ids": input_ids, "attention_mask": real.long(), "labels": labels}


@dataclass(frozen=True)
class Setting:
    """What every case of one run shares."""

    size: str
    seq_len: int
    batch_size: int
    late_layers: int
    attn: str
    varlen_attn: str
    padding: float


@dataclass(frozen=True)
class Case:
    """One row of the table: a family's variant at a masking rate."""

    family: str
    variant: str
    rate: float

    @property
    def name(self) -> str:
        return f"{self.family} {self.variant}@{self.rate:g}"


def build(case: Case, setting: Setting, seed: int, device: torch.device) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    from transformers import AutoConfig, AutoModelForMaskedLM

    family, variant = FAMILIES[case.family], VARIANTS[case.variant]
    fields = {**family.config, "pad_token_id": family.pad_id, **size_preset(case.family, setting.size)}
    config = AutoConfig.for_model(vocab_size=family.vocab_size, **fields)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = set_attention(AutoModelForMaskedLM.from_config(config), setting.varlen_attn if variant.unpadded else setting.attn)
        module = variant.build(model, setting.late_layers).to(device)
    return module, torch.optim.AdamW(module.parameters(), lr=1e-4)


def count_flops(module: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor]) -> int:
    """FLOPs of one training step (forward + backward; AdamW adds no counted op)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step(module, optimizer, batch)
    return counter.get_total_flops()


def step(module: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor]) -> float:
    """Seconds of one training step; on a GPU the clock waits for the device (its work is asynchronous)."""
    device = next(module.parameters()).device
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    synchronize()
    start = time.perf_counter()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        loss = module(**batch)["loss"]
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    synchronize()
    return time.perf_counter() - start


def measure(setting: Setting, cases: list[Case], rounds: int, warmup: int, device: torch.device) -> list[dict[str, Any]]:
    """Count each case's FLOPs in its first step, then time interleaved rounds; one row per case."""
    batches, runs, flops = {}, {}, {}
    for case in cases:
        family = FAMILIES[case.family]
        batch = make_batch(setting.batch_size, setting.seq_len, case.rate, seed=0, family=family, padding=setting.padding)
        layout = LAYOUTS.get(case.variant)
        batch = layout(batch, family) if layout else batch
        batches[case] = {key: value.to(device) for key, value in batch.items()}
        runs[case] = build(case, setting, seed=0, device=device)
        flops[case] = count_flops(*runs[case], batches[case])
    times: dict[Case, list[float]] = {case: [] for case in runs}
    for round_index in range(max(warmup - 1, 0) + rounds):  # the counted step was the first warm-up
        for case, (module, optimizer) in runs.items():
            elapsed = step(module, optimizer, batches[case])
            if round_index >= warmup - 1:
                times[case].append(elapsed)
    tokens = setting.batch_size * setting.seq_len
    rows = []
    for case, seconds in times.items():
        median = statistics.median(seconds)
        quantiles = statistics.quantiles(seconds, n=10, method="inclusive") if len(seconds) > 1 else [median] * 9
        attn = setting.varlen_attn if VARIANTS[case.variant].unpadded else setting.attn
        rows.append({
            "variant": case.variant, "family": case.family, "size": setting.size, "seq_len": setting.seq_len,
            "batch_size": setting.batch_size, "padding": setting.padding, "masking_rate": case.rate,
            "late_layers": setting.late_layers if case.variant == "late_mask" else None, "attn": attn,
            "flops_per_step": flops[case], "tokens_per_s": tokens / median,
            "step_s_median": median, "step_s_p10": quantiles[0], "step_s_p90": quantiles[-1], "n": len(seconds),
        })
    baseline = rows[0]
    for row, case in zip(rows, times):
        row["case"] = case.name
        row["baseline"] = cases[0].name
        row["ratio_to_dense"] = row["tokens_per_s"] / baseline["tokens_per_s"]
        row["flops_ratio_to_dense"] = row["flops_per_step"] / baseline["flops_per_step"]
    return rows


def target_lines(rows: list[dict[str, Any]], limit: float = 0.70) -> list[str]:
    """Issue 8's target: late-mask at 50% needs <= 70% of the FLOPs of a dense 15% step of its family at base size."""
    lines = []
    for row in rows:
        if row["variant"] == "late_mask" and row["size"] == "base" and row["baseline"] == f"{row['family']} dense@0.15":
            verdict = "meets" if row["flops_ratio_to_dense"] <= limit else "MISSES"
            lines.append(
                f"{row['family']}-base, length {row['seq_len']}: late-mask at {row['masking_rate']:.0%} needs "
                f"{row['flops_ratio_to_dense']:.1%} of the FLOPs of dense 15% ({verdict} the <= {limit:.0%} target); "
                f"its step time is {1 / row['ratio_to_dense']:.1%} of dense 15%"
            )
    return lines


def environment(threads: int, device: torch.device) -> dict[str, Any]:
    import transformers

    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    if device.type == "cuda":
        name = f"{torch.cuda.get_device_name(device)} (bf16 autocast)"
    else:
        name = f"{platform.processor() or platform.machine()} CPU, {threads} torch thread(s)"
    return {"git_sha": sha, "device": name, "torch": torch.__version__, "transformers": transformers.__version__,
            "threads": threads}


def markdown(rows: list[dict[str, Any]], env: dict[str, Any]) -> str:
    lines = [
        "# Training step: dense vs sparse MLM head, padded vs unpadded, vs 3ML late-mask",
        "",
        f"`python benchmarks/train_step.py` on {env['device']}, torch {env['torch']}, "
        f"transformers {env['transformers']}, git {env['git_sha']}. Masked-LM presets with the family's vocabulary; "
        "one step = forward + backward + AdamW; FLOPs counted by FlopCounterMode; median of interleaved rounds; "
        "ratios to the first case of the same run (baseline column); padding = share of the batch that is padding.",
        "",
        "| family | size | seq_len | batch | padding | masking | variant | attention | GFLOPs/step | FLOPs vs baseline "
        "| tokens/s | step s (p10–p90) | tokens/s vs baseline | baseline |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        variant = row["variant"] + (f" (k={row['late_layers']})" if row["late_layers"] else "")
        lines.append(
            f"| {row['family']} | {row['size']} | {row['seq_len']} | {row['batch_size']} | {row['padding']:.0%} | "
            f"{row['masking_rate']:.0%} | {variant} | {row['attn']} | {row['flops_per_step'] / 1e9:.1f} | "
            f"{row['flops_ratio_to_dense']:.3f} | {row['tokens_per_s']:.0f} | "
            f"{row['step_s_median']:.3f} ({row['step_s_p10']:.3f}–{row['step_s_p90']:.3f}) | {row['ratio_to_dense']:.2f}× | "
            f"{row['baseline']} |"
        )
    return "\n".join(lines + [""] + target_lines(rows)) + "\n"


def parse_cases(text: str) -> list[tuple[str, float]]:
    """"dense@0.15,late_mask@0.5" -> [("dense", 0.15), ("late_mask", 0.5)]."""
    cases = []
    for item in text.split(","):
        variant, _, rate = item.partition("@")
        if variant not in VARIANTS or not rate:
            raise SystemExit(f"--cases item {item!r} must be VARIANT@RATE with VARIANT in {sorted(VARIANTS)}")
        cases.append((variant, float(rate)))
    return cases


def family_cases(families: list[str], cases: list[tuple[str, float]]) -> list[Case]:
    """Every family's cases, in order, leaving out the variants a family does not support (said on stdout)."""
    unknown = [name for name in families if name not in FAMILIES]
    if unknown:
        raise SystemExit(f"--families: {unknown[0]!r} is not one of {sorted(FAMILIES)}")
    chosen = []
    for family in families:
        for variant, rate in cases:
            if family in VARIANTS[variant].families:
                chosen.append(Case(family, variant, rate))
            else:
                print(f"skipped {family} {variant}@{rate:g}: {variant} applies to {', '.join(VARIANTS[variant].families)}")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", "--family", default="bert", help=f"comma-separated, of {sorted(FAMILIES)}")
    parser.add_argument("--sizes", default="mini", help="comma-separated presets of mlmkit.models.factory.SIZES")
    parser.add_argument("--seq-lens", default="128", help="comma-separated sequence lengths")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--tokens-per-step", type=int, help="batch = this // seq_len (same tokens at every length)")
    parser.add_argument("--cases", type=parse_cases, default=parse_cases(DEFAULT_CASES), help=f"default: {DEFAULT_CASES}")
    parser.add_argument("--padding", type=float, default=0.0, help="mean share of padding in a batch, 0 to 0.5 (default 0)")
    parser.add_argument("--late-layers", type=int, default=2, help="k of the late_mask variant (3ML: 2 for base)")
    parser.add_argument("--attn", default="eager", choices=["eager", "sdpa"])
    parser.add_argument("--varlen-attn", default="sdpa_varlen", help="attention of the *_unpadded variants "
                        "(sdpa_varlen, or torch_varlen / flash_attention_2 / flash_attention_3 on a GPU)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", type=torch.device, default=torch.device("cpu"), help="cpu or cuda (bf16 autocast on cuda)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "train_step.md")
    parser.add_argument("--json", type=Path, help="also write the rows (one per case and shape) as a JSON list to this file")
    args = parser.parse_args()
    if not 0.0 <= args.padding <= 0.5:
        raise SystemExit(f"--padding {args.padding}: must be between 0 and 0.5")
    cases = family_cases(args.families.split(","), args.cases)
    torch.set_num_threads(args.threads)
    env = environment(args.threads, args.device)
    rows = []
    for size in args.sizes.split(","):
        for seq_len in (int(value) for value in args.seq_lens.split(",")):
            batch_size = args.tokens_per_step // seq_len if args.tokens_per_step else args.batch_size
            setting = Setting(size, seq_len, batch_size, args.late_layers, args.attn, args.varlen_attn, args.padding)
            rows += measure(setting, cases, args.rounds, args.warmup, args.device)
            print("\n".join(markdown(rows, env).splitlines()[-len(cases) - len(target_lines(rows)) - 1 :]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(rows, env), encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps([{**env, **row} for row in rows], indent=1) + "\n", encoding="utf-8")
    print(markdown(rows, env))


if __name__ == "__main__":
    main()
