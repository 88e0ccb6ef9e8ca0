"""What the loop measures and where it goes: metrics.jsonl (trackers: mlmkit.train.trackers), held-out evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from mlmkit.train.objectives import IGNORE_INDEX


class MetricsLog:
    """One JSON object per line in OUTPUT_DIR/metrics.jsonl (main process only).

    On resume, rows after the checkpoint's step (written by the interrupted run) are dropped, so the
    file shows one continuous curve.
    """

    def __init__(self, output_dir: Path, is_main: bool, truncate_after: int = 0) -> None:
        self.path = Path(output_dir) / "metrics.jsonl"
        self.handle = None
        if not is_main:
            return
        kept = _rows_up_to(self.path, truncate_after) if truncate_after else []
        self.handle = open(self.path, "w", encoding="utf-8")
        for row in kept:
            self.handle.write(json.dumps(row) + "\n")

    def write(self, row: dict[str, Any]) -> None:
        if self.handle is None:
            return
        self.handle.write(json.dumps(row) + "\n")
        self.handle.flush()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl file."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def _rows_up_to(path: Path, step: int) -> list[dict[str, Any]]:
    return [row for row in read_metrics(path) if row["step"] <= step] if path.is_file() else []


def realised_rate_counts(batch: dict[str, torch.Tensor], special_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(labelled, maskable) token counts of a collated batch: their ratio is the masking rate realised.

    Maskable = real tokens that are not special; a labelled position counts as maskable even when the
    collator replaced it by [MASK] (itself a special id).
    """
    if "masked_positions" in batch:
        return _late_mask_counts(batch, special_ids)
    labelled = batch["labels"] != IGNORE_INDEX  # (B, T)
    real = batch["attention_mask"].bool()  # (B, T)
    if "decoder_position_ids" in batch:  # seq2seq (MASS): labels (B, L) sit at these encoder positions
        hits = torch.zeros_like(batch["input_ids"]).scatter_add_(1, batch["decoder_position_ids"], labelled.long())
        labelled = hits > 0  # (B, T)
    maskable = real & (labelled | ~torch.isin(batch["input_ids"], special_ids))
    return labelled.sum().float(), maskable.sum().float()


def _late_mask_counts(batch: dict[str, torch.Tensor], special_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Late-mask (3ML) layout: [MASK] slots (B, M) are kept out of the encoder input (B, E)."""
    masks = (batch["labels"] != IGNORE_INDEX).sum()
    visible = batch["visible_labels"] != IGNORE_INDEX  # (B, E) selected but left in the encoder input
    maskable = batch["attention_mask"].bool() & (visible | ~torch.isin(batch["input_ids"], special_ids))
    return (masks + visible.sum()).float(), (masks + maskable.sum()).float()


def batch_tokens(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Real tokens in a batch's blocks (throughput, token budgets): the attention mask's, plus the
    late [MASK] slots that the late-mask layout keeps out of it."""
    tokens = batch["attention_mask"].sum()
    if "masked_positions" in batch:
        tokens = tokens + (batch["masked_positions"] >= 0).sum()
    return tokens


@torch.no_grad()
def evaluate(accelerator: Any, module: torch.nn.Module, loader: Any, collator: Any, vocab_size: int) -> dict[str, float]:
    """Held-out MLM loss and accuracy, summed over masked tokens and divided by their count (STYLE §3.4).

    The collator restarts at epoch 0, batch 0, so every evaluation masks the same positions. Also
    returns the unigram baseline: the accuracy of always predicting the most frequent token among
    the labelled positions, the bar a model must clear to have learnt anything from context.
    """
    collator.set_epoch(0, start_batch=0)
    module.eval()
    totals = torch.zeros(3, dtype=torch.float64, device=accelerator.device)  # loss sum, count, correct
    histogram = torch.zeros(vocab_size, dtype=torch.float64, device=accelerator.device)
    for batch in loader:
        with accelerator.autocast():
            outputs = module(**batch)
        rows = accelerator.gather_for_metrics((outputs["row_loss_sum"], outputs["row_count"], outputs["row_correct"]))
        totals += torch.stack([row.double().sum() for row in rows])
        histogram += torch.bincount(outputs["target_ids"], minlength=vocab_size).double()
    module.train()
    histogram = accelerator.reduce(histogram, "sum")
    loss_sum, count, correct = totals.tolist()
    return {
        "eval_loss": loss_sum / max(count, 1.0),
        "eval_accuracy": correct / max(count, 1.0),
        "eval_unigram_accuracy": (histogram.max() / histogram.sum().clamp(min=1)).item(),
        "eval_tokens": int(count),
    }
