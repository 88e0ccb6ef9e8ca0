"""The one pretraining loop, on Accelerate, shaped like accelerate's nlp_example.py (STYLE §3.4).

prepare → accumulate → autocast → backward → clip → step. Multi-process and multi-node runs come
from `accelerate launch` and Accelerate's own configs; the only collective calls here are
Accelerate's (`reduce`, `gather_for_metrics`, `wait_for_everyone`) so that every process logs the
same numbers and stops on the same step.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from mlmkit.config import RunConfig, to_yaml
from mlmkit.data.corpus import check_corpus_paths
from mlmkit.data.tokenizer import tokenizer_vocab_hash
from mlmkit.errors import MlmkitError
from mlmkit.logs import logger
from mlmkit.train import checkpoint
from mlmkit.train.metrics import MetricsLog, batch_tokens, realised_rate_counts
from mlmkit.train.objectives import build_objective
from mlmkit.train.optim import build_lr_scheduler, build_optimizer
from mlmkit.train.resume import prepare_output_dir, record_config, restore
from mlmkit.train.setup import RunParts, build_parts, document_separator
from mlmkit.train.throughput import counting_flops, device_peak_tflops, model_flops_utilisation, tf32_matmuls
from mlmkit.train.trackers import log_row, log_with, logging_dir, start_trackers, stop_trackers


@dataclass
class Position:
    """Where the run is: what a checkpoint's trainer_state.json holds."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    micro_batches: int = 0
    tokens_seen: int = 0
    seconds: float = 0.0  # wall-clock training time, evaluation and checkpoints left out
    cpu_seconds: float = 0.0  # process CPU time (all threads) of the same: a per-step cost that machine load moves less


@dataclass
class PretrainResult:
    """What `pretrain` returns on every process."""

    final_dir: Path  # OUTPUT_DIR/final, the HF folder (written by the main process)
    model: torch.nn.Module  # the trained HF masked-LM model, unwrapped
    step: int
    loss: float  # training loss of the last step, averaged over processes
    eval: dict[str, float]  # the last evaluation's numbers


@dataclass
class Window:
    """Sums over the micro batches since the last log row (counts, not means of means: STYLE §3.4)."""

    loss: float = 0.0
    micro_batches: int = 0
    labelled: float = 0.0
    maskable: float = 0.0
    tokens: float = 0.0
    started: float = field(default_factory=time.perf_counter)


def total_steps(config: RunConfig, num_processes: int) -> int:
    """Optimizer steps of the run: train.max_steps, or the steps that consume train.max_tokens when set."""
    train = config.train
    if train.max_tokens is None:
        return train.max_steps
    per_step = train.batch_size * config.data.seq_len * train.gradient_accumulation_steps * num_processes
    return math.ceil(train.max_tokens / per_step)


def pretrain(config: RunConfig, resume: bool | None = None, description: str = "pretrain") -> PretrainResult:
    """Pretrain a masked LM as `config` says; the final HF model is saved in OUTPUT_DIR/final.

    Args:
        config: the resolved run configuration (mlmkit.config.load_recipe).
        resume: continue from the newest complete checkpoint in OUTPUT_DIR; None follows train.resume.
        description: the progress bar's label.

    Raises:
        MlmkitError: bad configuration, non-finite loss (after keeping the last good checkpoint),
            a checkpoint that could not be written.
    """
    from accelerate import Accelerator

    accelerator = Accelerator(
        mixed_precision=config.train.mixed_precision,
        gradient_accumulation_steps=config.train.gradient_accumulation_steps,
        log_with=log_with(config.train.report_to) or None,
        project_dir=str(logging_dir(config.output_dir)),
    )
    cuda = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    # Dropout and weight init draw from the global RNG; fork it so the caller's state is left as it was.
    with torch.random.fork_rng(devices=cuda), tf32_matmuls(accelerator.device.type == "cuda"):
        torch.manual_seed(config.train.seed)
        return _train(config, accelerator, config.train.resume == "auto" if resume is None else resume, description)


def _train(config: RunConfig, accelerator: Any, resume: bool, description: str) -> PretrainResult:
    check_corpus_paths(config.data.corpus, "data.corpus")  # before OUTPUT_DIR exists or the config shows
    check_corpus_paths(config.tokenizer.corpus, "tokenizer.corpus")
    output_dir = prepare_output_dir(config, accelerator, resume)
    if accelerator.is_main_process:
        logger.info(f"resolved config:\n{to_yaml(config)}")
    parts = build_parts(config, accelerator)
    train = config.train
    objective = build_objective(
        parts.model, sparse=train.sparse_head, separator_id=document_separator(config, parts.tokenizer),
        report_targets=hasattr(parts.train_collator.masker, "observe"),  # strategies that learn from the loss
    )  # fmt: skip
    module = objective.wrap(parts.model)
    if train.compile:
        module.compile_core()
    steps = total_steps(config, accelerator.num_processes)
    fused = accelerator.device.type == "cuda"  # one kernel for the whole AdamW update
    optimizer = build_optimizer(module, train.lr, train.weight_decay, tuple(train.betas), train.eps, fused=fused)
    warmup = train.warmup_steps if train.warmup_steps is not None else round(train.warmup_ratio * steps)
    # Not prepared: Accelerate would step a prepared scheduler num_processes times per step.
    scheduler = build_lr_scheduler(optimizer, warmup, steps, train.lr_scheduler_type, train.lr_scheduler_kwargs)
    module, optimizer, train_loader, eval_loader = accelerator.prepare(
        module, optimizer, parts.train_loader, parts.eval_loader
    )
    # Saved and restored by mlmkit itself (safetensors + JSON), never as Accelerate's pickled custom state.
    objects = {"lr_scheduler": scheduler}
    if hasattr(parts.train_collator.masker, "state_dict"):  # content schedules' running state (POS-weighted EMA)
        objects["masker"] = parts.train_collator.masker
    if len(train_loader) == 0:
        raise MlmkitError(
            f"{len(parts.train_loader.dataset)} training blocks make no full batch of train.batch_size="
            f"{train.batch_size} per process; lower train.batch_size or use more text"
        )
    record, changed = restore(config, accelerator, parts.tokenizer, objects, optimizer, scheduler) if resume else (None, False)
    position = Position(**{key: record[key] for key in Position.__dataclass_fields__ if key in record}) if record else Position()
    record_config(config, accelerator, record["step"] if record else None, changed)
    log = MetricsLog(output_dir, accelerator.is_main_process, truncate_after=position.step)
    start_trackers(accelerator, config)
    loop = _Loop(config, accelerator, parts, module, optimizer, scheduler, train_loader, eval_loader, log, steps, description, objects)
    try:
        loop.run(position)
    finally:
        log.close()
        stop_trackers(accelerator)
    final, model = output_dir / "final", accelerator.unwrap_model(module).model
    if accelerator.is_main_process:
        checkpoint.save_final(model, parts.tokenizer, final)
    accelerator.wait_for_everyone()
    return PretrainResult(final, model, position.step, loop.last_loss, loop.last_eval)


class _Loop:
    """The state one run carries between steps; `run` is the loop itself."""

    def __init__(self, config, accelerator, parts: RunParts, module, optimizer, scheduler, train_loader, eval_loader, log, steps, description, objects):
        self.config, self.train, self.objects = config, config.train, objects
        self.accelerator, self.parts, self.module = accelerator, parts, module
        self.optimizer, self.scheduler = optimizer, scheduler
        self.train_loader, self.eval_loader = train_loader, eval_loader
        self.log, self.steps, self.description = log, steps, description
        self.special_ids = parts.special_ids.to(accelerator.device)
        self.last_loss, self.last_eval, self.step_losses = math.nan, {}, []
        # Strategies that learn from the model's per-token loss (POS-weighted masking) get it here.
        self.observe = getattr(parts.train_collator.masker, "observe", None)
        # Masked LMs are scored with the one held-out measure; encoder-decoders (MASS) with their own masking.
        from mlmkit.eval.held_out import HeldOutCollator, function_word_table

        self.held_out = parts.eval_collator if isinstance(parts.eval_collator, HeldOutCollator) else None
        self.function_table = function_word_table(parts.tokenizer) if self.held_out is not None else None
        self.baselines: dict[str, float] | None = None
        self.peak_tflops = device_peak_tflops(accelerator.device, config.train.peak_tflops)
        self.flops_per_token: float | None = None

    def run(self, position: Position) -> None:
        from tqdm.auto import tqdm

        batches = self.steps * self.train.gradient_accumulation_steps * self.accelerator.num_processes
        self.parts.train_collator.set_total_batches(batches)  # global batches: the collator counts over all processes
        bar = tqdm(total=self.steps, initial=position.step, disable=not self.accelerator.is_main_process, desc=self.description)
        self.first_micro_batch = position.micro_batches + 1  # the FLOPs are counted on this run's first batch
        self.window, self.clock = Window(), time.perf_counter() - position.seconds
        self.cpu_clock = time.process_time() - position.cpu_seconds
        try:
            self._steps(position, bar)
        finally:
            bar.close()  # before an error is printed, so the error is the last line
        if self.window.micro_batches:
            self._log_train(position)
        if position.step % self.train.eval_every:
            self._evaluate(position)
        if position.step % self.train.save_every:
            self._save(position)

    def _steps(self, position: Position, bar: Any) -> None:
        while not self._done(position):
            # Through Accelerate's loader: its __iter__ re-applies its own epoch to the sampler.
            self.train_loader.set_epoch(position.epoch)
            # Counted from the start of training: masks replay on resume, and schedules read progress from it.
            self.parts.train_collator.set_epoch(position.epoch, start_batch=position.micro_batches)
            loader = self.train_loader
            if position.batch_in_epoch:
                loader = self.accelerator.skip_first_batches(loader, position.batch_in_epoch)
            for batch in loader:
                position.batch_in_epoch += 1
                position.micro_batches += 1
                if self._micro_step(batch, position):
                    self._after_step(position, bar)
                    if self._done(position):
                        break
            else:
                position.epoch, position.batch_in_epoch = position.epoch + 1, 0

    def _done(self, position: Position) -> bool:
        budget = self.train.max_tokens
        return position.step >= self.steps or (budget is not None and position.tokens_seen >= budget)

    def _micro_step(self, batch: dict[str, torch.Tensor], position: Position) -> bool:
        """Forward and backward one micro batch; True when this closed an optimizer step."""
        accelerator = self.accelerator
        first = position.micro_batches == self.first_micro_batch
        with accelerator.accumulate(self.module):
            with counting_flops() if first else contextlib.nullcontext() as counter:  # once per run, for MFU
                with accelerator.autocast():
                    outputs = self.module(**batch)
                labelled, maskable = realised_rate_counts(batch, self.special_ids)
                tokens = batch_tokens(batch)
                local = torch.stack([outputs["loss"].detach().float(), labelled, maskable, tokens.float()])
                accelerator.backward(outputs["loss"])
            if first:
                self._record_flops(counter.get_total_flops(), tokens)
            # Read back after the backward: nothing waits for the device between forward and backward.
            loss, labelled, maskable, tokens = accelerator.reduce(local, "sum").tolist()
            loss /= accelerator.num_processes
            if not math.isfinite(loss):
                self._stop_non_finite(f"the loss became {loss}", position)
            if self.observe is not None:
                self.observe(outputs["target_ids"], outputs["token_loss"])
            if accelerator.sync_gradients:
                self._check_gradients(position)
            self.optimizer.step()
            self.optimizer.zero_grad()
        window = self.window
        window.loss += loss
        self.step_losses.append(loss)
        window.micro_batches += 1
        window.labelled, window.maskable, window.tokens = (
            window.labelled + labelled, window.maskable + maskable, window.tokens + tokens
        )
        position.tokens_seen += int(tokens)
        return accelerator.sync_gradients

    def _record_flops(self, flops: int, tokens: torch.Tensor) -> None:
        """Model FLOPs per token of this run's step, from its first micro batch (`mlmkit.train.throughput`)."""
        self.flops_per_token = flops / max(float(tokens), 1.0)
        if self.accelerator.is_main_process:
            peak = f"{self.peak_tflops:g} TFLOP/s per device" if self.peak_tflops else "no known peak (set train.peak_tflops)"
            logger.info(f"model FLOPs per token: {self.flops_per_token:.4g}; MFU against {peak}")

    def _check_gradients(self, position: Position) -> None:
        """Clip (max_grad_norm > 0) and stop before the optimizer step on a non-finite gradient norm, so no
        non-finite update reaches the weights. Under fp16 the gradient scaler skips such steps itself."""
        limit = self.train.max_grad_norm if self.train.max_grad_norm > 0 else math.inf
        norm = self.accelerator.clip_grad_norm_(self.module.parameters(), limit)  # None under DeepSpeed (its engine clips)
        if norm is not None and not math.isfinite(float(norm)) and self.accelerator.scaler is None:
            self._stop_non_finite(f"the gradient norm became {float(norm)}", position)

    def _after_step(self, position: Position, bar: Any) -> None:
        self.lr = self.scheduler.get_last_lr()[0]
        self.last_loss, self.step_losses = sum(self.step_losses) / len(self.step_losses), []
        if not self.accelerator.optimizer_step_was_skipped:
            self.scheduler.step()
        position.step += 1
        position.seconds = time.perf_counter() - self.clock
        position.cpu_seconds = time.process_time() - self.cpu_clock
        bar.update(1)
        if position.step % self.train.log_every == 0:
            row = self._log_train(position)
            bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row['tokens_per_s']:.0f}")
        if position.step % self.train.eval_every == 0:
            self._off_the_clock(self._evaluate, position)
        if position.step % self.train.save_every == 0:
            self._off_the_clock(self._save, position)

    def _off_the_clock(self, work: Callable[[Position], None], position: Position) -> None:
        """Run evaluation or checkpointing without counting it as training time.

        Why: `seconds` (and tokens/s) measure training alone, so runs that evaluate or save at
        different costs (a late-mask model, another eval set) compare fairly per second.
        """
        started, cpu_started = time.perf_counter(), time.process_time()
        work(position)
        paused = time.perf_counter() - started
        self.clock += paused
        self.cpu_clock += time.process_time() - cpu_started
        self.window.started += paused

    def _log_train(self, position: Position) -> dict[str, Any]:
        window, now = self.window, time.perf_counter()
        row = {
            "step": position.step,
            "epoch": position.epoch,
            "loss": window.loss / window.micro_batches,
            "lr": self.lr,
            "masking_rate": window.labelled / max(window.maskable, 1.0),
            "tokens_seen": position.tokens_seen,
            "tokens_per_s": window.tokens / max(now - window.started, 1e-9),
            "flops_per_token": self.flops_per_token,
            "seconds": position.seconds,
            "cpu_seconds": position.cpu_seconds,
        }
        row["mfu"] = model_flops_utilisation(self.flops_per_token, row["tokens_per_s"], self.peak_tflops, self.accelerator.num_processes)
        self._record(row)
        self.window = Window()
        return row

    def _evaluate(self, position: Position) -> None:
        with torch.compiler.set_stance("force_eager"):  # a compiled step would compile again for every eval shape
            result = self._held_out_scores() if self.held_out is not None else self._own_masking_scores()
        self._record({"step": position.step, "seconds": position.seconds, **result})
        self.last_eval = result
        if self.accelerator.is_main_process:
            logger.info(
                f"step {position.step}: eval_loss {result['eval_loss']:.4f}, eval_accuracy {result['eval_accuracy']:.4f} "
                f"(unigram baseline {result['eval_unigram_accuracy']:.4f})"
            )

    def _held_out_scores(self) -> dict[str, float]:
        from mlmkit.eval.held_out import held_out_baselines, score_blocks, summarize

        if self.baselines is None:  # the masks are fixed, so the baselines are computed once
            self.baselines = held_out_baselines(self.held_out, self.parts.eval_loader.dataset)
        block_sums = score_blocks(self.accelerator, self.module, self.eval_loader, self.function_table)
        return summarize(block_sums, self.baselines)

    def _own_masking_scores(self) -> dict[str, float]:
        from mlmkit.train.metrics import evaluate

        return evaluate(self.accelerator, self.module, self.eval_loader, self.parts.eval_collator, len(self.parts.tokenizer))

    def _record(self, row: dict[str, Any]) -> None:
        """A metrics row to metrics.jsonl and to the trackers of train.report_to."""
        self.log.write(row)
        log_row(self.accelerator, row)

    def _save(self, position: Position) -> None:
        state = {key: getattr(position, key) for key in Position.__dataclass_fields__}
        state["tokenizer_vocab_hash"] = tokenizer_vocab_hash(self.parts.tokenizer)
        checkpoint.save_checkpoint(
            self.accelerator, self.module, self.parts.tokenizer, self.config.output_dir, state,
            self.train.keep_checkpoints, to_yaml(self.config), self.objects,
        )  # fmt: skip

    def _stop_non_finite(self, what: str, position: Position) -> None:
        """Stop before a non-finite update. A checkpoint of the current weights is not good: resuming it
        replays this very batch and fails again, whatever the new learning rate; it is moved aside."""
        output_dir = self.config.output_dir
        current = checkpoint.step_folder(output_dir, position.step)
        moved = ""
        if current.is_dir():
            self.accelerator.wait_for_everyone()
            if self.accelerator.is_main_process:
                checkpoint.set_aside(current, "non-finite")
            self.accelerator.wait_for_everyone()
            moved = f" ({current.name}, whose weights lead to it, is moved aside as non-finite-{current.name})"
        latest = checkpoint.latest_checkpoint(output_dir)
        raise MlmkitError(
            f"{what} at step {position.step + 1}; stopped before the optimizer step{moved}. "
            f"Last good checkpoint: {latest or 'none (start afresh)'}. "
            "Lower train.lr, raise train.warmup_ratio, or use mixed_precision=bf16 instead of fp16, then resume"
        )
