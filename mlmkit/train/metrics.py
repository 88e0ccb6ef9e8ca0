"""What the loop measures and where it goes: metrics.jsonl (trackers: mlmkit.train.trackers), held-out evaluation."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from mlmkit.errors import MlmkitError
from mlmkit.text_files import read_text_file
from mlmkit.train.objectives import IGNORE_INDEX


class MetricsLog:
    """One JSON object per line in OUTPUT_DIR/metrics.jsonl (main process only).

    On resume, rows after the checkpoint's step (written by the interrupted run) are dropped, so the
    file shows one continuous curve. The kept rows are written to a temporary file that replaces the
    old one in one rename, and every row is flushed as it is written: a kill at any moment leaves
    every row logged so far, at worst with a torn last line, which `read_metrics` ignores.
    """

    def __init__(self, output_dir: Path, is_main: bool, truncate_after: int = 0) -> None:
        self.path = Path(output_dir) / "metrics.jsonl"
        self.handle = None
        if not is_main:
            return
        if truncate_after:
            _rewrite(self.path, [row for row in read_metrics(self.path) if row["step"] <= truncate_after] if self.path.is_file() else [])
            self.handle = open(self.path, "a", encoding="utf-8")
        else:
            self.handle = open(self.path, "w", encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        if self.handle is None:
            return
        self.handle.write(json.dumps(row) + "\n")
        self.handle.flush()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl file; a torn last line (a run killed mid-write) is left out.

    Raises:
        MlmkitError: the file is not UTF-8, or a row before the last is not a JSON object with a step.
    """
    lines = read_text_file(path, "metrics file").splitlines()
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or "step" not in row:
                raise ValueError("not an object with a step")
        except ValueError as error:
            if number == len(lines):
                break  # torn by a kill while writing
            raise MlmkitError(f"{path}, line {number}: not a metrics row ({error}); delete that line or rerun the run") from None
        rows.append(row)
    return rows


def _rewrite(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace `path` by `rows` in one rename: a kill leaves the old file or the new one, never an empty one."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


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
