"""The cases of benchmarks/gpu_check.py: the strategies, their data, and one measured case (run in its own process).

Each case trains `warmup + steps` steps from a DataLoader with `workers` processes over packed blocks and
measures them: tokens/s, the median step time, model FLOPs per token (FlopCounterMode over one eager
step, mlmkit.train.throughput), peak GPU memory, the share of step time spent waiting for the next
batch, and the collator's CPU time per batch.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "mlmkit" / "resources" / "wikitext" / "wiki.valid.raw"
VOCAB = {"bert": 30522, "modernbert": 50368}  # the released models' vocabularies: the head's real cost


@dataclass(frozen=True)
class Strategy:
    """One row kind of the table: how the model, its module and its data are built."""

    letter: str
    title: str
    family: str = "bert"
    hf_trainer: bool = False  # Hugging Face's recipe (a) instead of mlmkit's step
    sparse: bool = True
    documents: bool = False  # data.document_attention: block
    compile: bool = False  # train.compile
    late_layers: int = 0  # 3ML late-mask with k late layers
    rate: float = 0.15
    attention: str = "sdpa"  # on CUDA; torch_varlen becomes sdpa_varlen on a CPU

    @property
    def time_box_s(self) -> int:
        return 170 if self.compile else 80


STRATEGIES: dict[str, Strategy] = {
    "hf": Strategy("a", "HF recipe: BertForMaskedLM + DataCollatorForLanguageModeling, Trainer", hf_trainer=True, sparse=False),
    "dense": Strategy("b", "mlmkit step, dense head", sparse=False),
    "sparse_compiled": Strategy("c", "mlmkit, sparse head, documents apart (torch_varlen), compiled", documents=True, compile=True,
                                attention="torch_varlen"),
    "sparse_compiled_mask": Strategy("c'", "mlmkit, sparse head, documents apart (SDPA block mask), compiled", documents=True,
                                     compile=True),
    "late_mask": Strategy("d", "mlmkit, 3ML late-mask 50% [MASK]-only, k=2", late_layers=2, rate=0.5),
    "modernbert": Strategy("e", "mlmkit, ModernBERT-base, sparse head, unpadded per document (torch_varlen)", family="modernbert",
                           documents=True, attention="torch_varlen"),
}  # fmt: skip


def prepare(args: argparse.Namespace) -> None:
    """A WordPiece tokenizer (uncased) trained on the embedded corpus, and its packed blocks per length
    (`corpus_repeats` passes over the corpus), saved in the work folder."""
    import numpy as np

    from mlmkit.data.corpus import read_documents
    from mlmkit.data.packing import SpecialIds, StreamPacker
    from mlmkit.data.tokenizer import load_mlm_tokenizer, train_tokenizer
    from mlmkit.data.tokenizing import tokenized_batches

    work, documents, size = Path(args.workdir), [], 0
    for text in read_documents(CORPUS):
        documents.append(text)
        size += len(text)
        if args.corpus_chars and size >= args.corpus_chars:
            break
    corpus = work / "corpus.txt"
    corpus.write_text("\n\n".join(documents) + "\n", encoding="utf-8")
    train_tokenizer([corpus], "wordpiece", args.vocab_size, work / "tokenizer", lowercase=True, overwrite=True,
                    corpus_format="blank-line", show_progress=False)  # fmt: skip
    tokenizer = load_mlm_tokenizer(work / "tokenizer")
    ids, words, offsets = next(tokenized_batches(tokenizer, [documents], num_proc=1))
    special = SpecialIds(cls=tokenizer.cls_token_id, sep=tokenizer.sep_token_id, pad=tokenizer.pad_token_id)
    for seq_len in args.seq_lens:  # full rows only (the padded last one is left out): every token is real
        packer = StreamPacker(seq_len, special)
        rows = [packer.add(ids, words, offsets) for _ in range(args.corpus_repeats)]
        columns = ("input_ids", "special_tokens_mask")
        np.savez(work / f"blocks-{seq_len}.npz", **{key: np.concatenate([getattr(row, key) for row in rows]) for key in columns})


class Blocks:
    """Packed rows as the features a `datasets` dataset gives a collator (lists of ints), as run_mlm.py's are."""

    def __init__(self, path: Path) -> None:
        import numpy as np

        arrays = np.load(path)
        self.arrays = {key: arrays[key] for key in ("input_ids", "special_tokens_mask")}

    def __len__(self) -> int:
        return len(self.arrays["input_ids"])

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return {key: values[index].tolist() for key, values in self.arrays.items()}


def run_case(args: argparse.Namespace, name: str, seq_len: int) -> dict[str, Any]:
    """Train and measure one strategy at one length; the row of the table (without the environment)."""
    import torch

    from mlmkit.data.tokenizer import load_mlm_tokenizer
    from mlmkit.train.throughput import device_peak_tflops

    strategy, device = STRATEGIES[name], torch.device(args.device)
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32, as mlmkit's loop and Trainer's bf16 recipes leave fp32 matmuls
    else:
        torch.set_num_threads(1)  # a smoke run on a shared CPU: several threads per tiny op only wait on each other
    tokenizer = load_mlm_tokenizer(Path(args.workdir) / "tokenizer")
    blocks = Blocks(Path(args.workdir) / f"blocks-{seq_len}.npz")
    batch_size = max(1, args.tokens_per_step // seq_len)
    if len(blocks) < batch_size * (args.warmup + args.steps + 1):
        raise SystemExit(f"{len(blocks)} blocks of {seq_len} are too few for {args.warmup + args.steps} steps of {batch_size}; raise --corpus-repeats")
    vocab_size = VOCAB[strategy.family] if args.release_vocab else len(tokenizer)
    measure = run_hf_trainer if strategy.hf_trainer else run_mlmkit
    row = measure(args, strategy, tokenizer, blocks, batch_size, vocab_size, device)
    peak = device_peak_tflops(device, args.peak_tflops)
    row.update(
        case=name, letter=strategy.letter, strategy=strategy.title, seq_len=seq_len, batch_size=batch_size, status="ok",
        mfu=row["flops_per_token"] * row["tokens_per_s"] / (peak * 1e12) if peak else None,
        peak_memory_gib=torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
    )  # fmt: skip
    return row


def collate_seconds(collator: Any, blocks: Blocks, batch_size: int, batches: int = 5) -> float:
    """Median CPU seconds of one collator call in this process, on one thread as in a DataLoader worker."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    seconds = []
    for index in range(batches):
        features = [blocks[index * batch_size + row] for row in range(batch_size)]
        started = time.process_time()
        collator(features)
        seconds.append(time.process_time() - started)
    torch.set_num_threads(threads)
    return statistics.median(seconds)


def flop_count(counter: Any, tokens: float) -> dict[str, float]:
    """Model FLOPs per token of the counted step, and the attention kernels' share of them (0 where the
    kernel has no FLOP formula in this torch, as CPU SDPA: MFU then leaves attention out)."""
    by_op = counter.get_flop_counts().get("Global", {})
    attention = sum(flops for op, flops in by_op.items() if "attention" in str(op) or "attn" in str(op))
    total = counter.get_total_flops()
    return {"flops_per_token": total / tokens, "attention_flops_share": attention / max(total, 1)}


def measured(steps: list[float], waits: list[float], tokens: list[float], flops: dict[str, float], collate_s: float, workers: int) -> dict[str, Any]:
    step_s = statistics.median(steps)
    return {
        "tokens_per_s": sum(tokens) / sum(steps), "step_s_median": step_s, "steps": len(steps), **flops,
        "loader_wait_share": sum(waits) / sum(steps),
        "collate_share": collate_s / (max(workers, 1) * step_s),  # a worker's CPU per batch over the time the workers have
    }  # fmt: skip


def build_module(strategy: Strategy, tokenizer: Any, seq_len: int, size: str, vocab_size: int, device: Any) -> Any:
    """mlmkit's training module for `strategy` (mlmkit.train.objectives), on `device`."""
    from mlmkit.config import LateMaskConfig
    from mlmkit.models.factory import build_model, build_model_config, set_attention
    from mlmkit.models.late_mask import LateMaskForMaskedLM
    from mlmkit.train.objectives import LateMaskLMModule, MaskedLMModule

    attention = "sdpa_varlen" if strategy.attention == "torch_varlen" and device.type != "cuda" else strategy.attention
    fields: dict[str, Any] = {"vocab_size": vocab_size}
    if strategy.attention == "torch_varlen" and strategy.family == "bert":
        fields["attention_probs_dropout_prob"] = 0.0  # the varlen kernel has no attention dropout
    config = build_model_config(strategy.family, size, tokenizer, seq_len, fields)
    model = set_attention(build_model(strategy.family, config, seed=0), attention)
    separator = tokenizer.sep_token_id if strategy.documents else None
    if strategy.late_layers:
        late = LateMaskForMaskedLM(model, LateMaskConfig(late_layers=strategy.late_layers), tokenizer.mask_token_id)
        return LateMaskLMModule(late, separator_id=separator).to(device)
    return MaskedLMModule(model, sparse=strategy.sparse, separator_id=separator).to(device)


def run_mlmkit(
    args: argparse.Namespace, strategy: Strategy, tokenizer: Any, blocks: Blocks, batch_size: int, vocab_size: int, device: Any
) -> dict[str, Any]:
    """mlmkit's step as mlmkit.train.loop runs it: bf16 autocast forward, backward, clipping at 1.0, fused
    AdamW, the loss read back."""
    import torch

    from mlmkit.collators import build_collator
    from mlmkit.train.metrics import batch_tokens
    from mlmkit.train.optim import build_optimizer
    from mlmkit.train.throughput import counting_flops

    cuda = device.type == "cuda"
    late = {"output": "late_mask", "mask_replace_prob": 1.0, "random_replace_prob": 0.0} if strategy.late_layers else {}
    collator = build_collator("random", tokenizer, mlm_probability=strategy.rate, seed=0, **late)
    collate_s = collate_seconds(collator, blocks, batch_size)
    module = build_module(strategy, tokenizer, len(blocks[0]["input_ids"]), args.size, vocab_size, device)
    optimizer = build_optimizer(module, 1e-4, fused=cuda)
    if strategy.compile:
        module.compile_core(backend=args.compile_backend)
    synchronize = torch.cuda.synchronize if cuda else (lambda: None)
    loader = torch.utils.data.DataLoader(
        blocks, batch_size=batch_size, shuffle=True, collate_fn=collator, num_workers=args.workers, pin_memory=cuda,
        drop_last=True, persistent_workers=args.workers > 0, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    batches = iter(loader)
    first = {key: value.to(device) for key, value in next(batches).items()}
    with counting_flops() as counter, torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
        module(**first)["loss"].backward()
    flops = flop_count(counter, float(batch_tokens(first)))
    optimizer.zero_grad(set_to_none=True)
    steps, waits, tokens = [], [], []
    for step in range(args.warmup + args.steps):
        synchronize()
        started = time.perf_counter()
        batch = {key: value.to(device, non_blocking=True) for key, value in next(batches).items()}
        fetched = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            loss = module(**batch)["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        float(loss.detach())  # the loop reads the loss back every step
        synchronize()
        if step >= args.warmup:
            steps.append(time.perf_counter() - started)
            waits.append(fetched - started)
            tokens.append(float(batch_tokens(batch)))
    return measured(steps, waits, tokens, flops, collate_s, args.workers)


def run_hf_trainer(
    args: argparse.Namespace, strategy: Strategy, tokenizer: Any, blocks: Blocks, batch_size: int, vocab_size: int, device: Any
) -> dict[str, Any]:
    """(a): transformers.Trainer with DataCollatorForLanguageModeling, bf16 and SDPA, its other settings left
    at their defaults; step times from a callback, the loader wait from `Trainer.get_batch_samples`."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, DataCollatorForLanguageModeling, Trainer, TrainerCallback, TrainingArguments

    from mlmkit.models.factory import size_preset
    from mlmkit.train.throughput import counting_flops

    cuda = device.type == "cuda"
    synchronize = torch.cuda.synchronize if cuda else (lambda: None)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=strategy.rate)
    collate_s = collate_seconds(collator, blocks, batch_size)
    config = BertConfig(vocab_size=vocab_size, pad_token_id=tokenizer.pad_token_id, **size_preset("bert", args.size))
    model = BertForMaskedLM(config).to(device)
    model.set_attn_implementation("sdpa")
    first = {key: value.to(device) for key, value in collator([blocks[index] for index in range(batch_size)]).items()}
    with counting_flops() as counter, torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
        model(**first).loss.backward()
    flops = flop_count(counter, first["input_ids"].numel())  # packed blocks: every token is real
    model.zero_grad(set_to_none=True)
    ends, waits = [], []

    class StepClock(TrainerCallback):
        def on_step_end(self, *unused: Any, **kwargs: Any) -> None:
            synchronize()
            ends.append(time.perf_counter())

    class TimedTrainer(Trainer):
        def get_batch_samples(self, *batch_args: Any, **batch_kwargs: Any) -> Any:
            started = time.perf_counter()
            result = super().get_batch_samples(*batch_args, **batch_kwargs)
            waits.append(time.perf_counter() - started)
            return result

    training = TrainingArguments(
        output_dir=str(Path(args.workdir) / "hf-trainer"), per_device_train_batch_size=batch_size, max_steps=args.warmup + args.steps,
        learning_rate=1e-4, bf16=cuda, use_cpu=not cuda, dataloader_num_workers=args.workers, dataloader_persistent_workers=args.workers > 0,
        save_strategy="no", report_to="none", logging_steps=10**6, disable_tqdm=True, seed=0,
    )  # fmt: skip
    TimedTrainer(model=model, args=training, train_dataset=blocks, data_collator=collator, callbacks=[StepClock()]).train()
    steps = [after - before for before, after in zip(ends[args.warmup - 1 :], ends[args.warmup :])]  # step k: end k-1 to end k
    tokens = [float(batch_size * len(blocks[0]["input_ids"]))] * len(steps)
    return measured(steps, waits[args.warmup : args.warmup + len(steps)], tokens, flops, collate_s, args.workers)
