"""Objectives: what the one loop optimises, computed from a collator batch (STYLE §3.4).

`MLMObjective(sparse=True)` computes the masked-LM loss with a *sparse* head: the transformer body
runs on the whole block, but the prediction head (transform + vocabulary projection, the largest
matmul of a small model) runs only at positions that carry a label. Original BERT already did this
(`gather_indexes` in run_pretraining.py, papers.md §1a); HF's BertForMaskedLM / RobertaForMaskedLM
project every position. The objective wraps the HF model in a training module instead of
subclassing it, so what is saved stays the plain HF model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

# The modules of an HF masked-LM model that turn final hidden states into vocabulary logits, applied in
# order (BERT: cls; RoBERTa: lm_head; ModernBERT: head, then decoder).
PREDICTION_HEADS = (("cls",), ("lm_head",), ("head", "decoder"))

IGNORE_INDEX = -100


class MaskedLMModule(nn.Module):
    """Training view of an HF masked-LM model: forward returns the loss and per-row counts.

    Accelerate prepares (and DDP wraps) this module, so gradient sync sees one forward call.
    """

    def __init__(self, model: nn.Module, sparse: bool = True) -> None:
        super().__init__()
        self.model = model
        self.sparse = sparse
        heads = [names for names in PREDICTION_HEADS if all(hasattr(model, name) for name in names)]
        if sparse and not heads:
            raise ValueError(f"{type(model).__name__} has none of the prediction heads {PREDICTION_HEADS}; use sparse_head: false")
        self.head_names = heads[0] if heads else ()

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor, **extras: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Loss (mean over labelled tokens) and per-row sums for count-weighted aggregation.

        Args:
            input_ids: (B, T) corrupted ids from the collator.
            attention_mask: (B, T).
            labels: (B, T), original ids where predicted, -100 elsewhere.
            extras: other model inputs the collator returns (token_type_ids, ...).

        Returns:
            loss (scalar), row_loss_sum (B,), row_count (B,), row_correct (B,) and target_ids (N,),
            where N is the number of labelled positions.
        """
        selected = labels != IGNORE_INDEX  # (B, T)
        targets = labels[selected]  # (N,)
        if self.sparse:
            body = self.model.base_model(input_ids=input_ids, attention_mask=attention_mask, **extras)
            logits = self.head(body[0][selected])  # (N, H) -> (N, V)
        else:
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask, **extras).logits[selected]
        return label_statistics(logits, targets, selected)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """The model's own prediction head on hidden states (N, H) -> logits (N, V)."""
        for name in self.head_names:
            hidden = getattr(self.model, name)(hidden)
        return hidden


def label_statistics(logits: torch.Tensor, targets: torch.Tensor, selected: torch.Tensor) -> dict[str, torch.Tensor]:
    """Loss and per-row sums from the logits (N, V) at the N labelled positions of `selected` (B, ·).

    Returns:
        loss (scalar, mean over labelled tokens), row_loss_sum (B,), row_count (B,), row_correct (B,),
        target_ids (N,), target_correct (N,) bool and token_loss (N,), detached (for strategies that learn
        from the loss and for the held-out measure, `mlmkit.eval.held_out`).
    """
    token_loss = nn.functional.cross_entropy(logits.float(), targets, reduction="none")  # (N,)
    rows = selected.nonzero()[:, 0]  # (N,) row of each labelled position
    correct = logits.detach().argmax(dim=-1) == targets  # (N,)
    batch_size = selected.shape[0]
    return {
        "loss": token_loss.sum() / targets.numel() if targets.numel() else token_loss.sum(),
        "row_loss_sum": torch.zeros(batch_size, device=rows.device).index_add_(0, rows, token_loss.detach()),
        "row_count": torch.bincount(rows, minlength=batch_size),
        "row_correct": torch.bincount(rows, weights=correct.float(), minlength=batch_size),
        "target_ids": targets,
        "target_correct": correct,
        "token_loss": token_loss.detach(),
    }


@dataclass(frozen=True)
class MLMObjective:
    """Masked-LM cross-entropy over labelled positions; `sparse` computes the head only there."""

    sparse: bool = True

    def wrap(self, model: nn.Module) -> MaskedLMModule:
        """The module the loop trains; `module.model` is the HF model to save."""
        return MaskedLMModule(model, sparse=self.sparse)


class Seq2SeqLMModule(nn.Module):
    """Training view of an HF encoder-decoder (MASS): the same loss and counts as `MaskedLMModule`.

    Labels live on the decoder side (B, L). Every decoder position but the padding is a target, so
    the head runs densely: a sparse head would only skip the padding.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor, **decoder_inputs: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Loss over the labelled decoder positions and per-row sums (see `label_statistics`).

        Args:
            input_ids: (B, T) encoder ids, corrupted by the collator.
            attention_mask: (B, T).
            labels: (B, L) target ids on the decoder side, -100 on padding.
            decoder_inputs: `decoder_input_ids`, `decoder_attention_mask`, `decoder_position_ids` (B, L).
        """
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, **decoder_inputs).logits  # (B, L, V)
        selected = labels != IGNORE_INDEX  # (B, L)
        return label_statistics(logits[selected], labels[selected], selected)


@dataclass(frozen=True)
class Seq2SeqObjective:
    """Cross-entropy of an encoder-decoder's predictions of the decoder labels (MASS, papers.md §12)."""

    def wrap(self, model: nn.Module) -> Seq2SeqLMModule:
        """The module the loop trains; `module.model` is the HF model to save."""
        return Seq2SeqLMModule(model)


class LateMaskLMModule(nn.Module):
    """Training view of a 3ML late-mask model (papers.md §11): the same loss and counts as `MaskedLMModule`.

    Targets are the late [MASK] slots (B, M) plus any selected tokens left visible in the encoder
    input (B, E); the model computes the head at those N targets only, so it is always sparse.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, labels: torch.Tensor, **batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss and per-row sums (see `label_statistics`) of a late-mask batch (`mlmkit.masking.late_mask_output`)."""
        logits, targets, selected = self.model.target_logits(labels=labels, **batch)  # (N, V), (N,), (B, M + E)
        return label_statistics(logits, targets, selected)


@dataclass(frozen=True)
class LateMaskObjective:
    """Masked-LM cross-entropy of a late-mask model at its [MASK] slots (and visible targets)."""

    def wrap(self, model: nn.Module) -> LateMaskLMModule:
        """The module the loop trains; `module.model` is the late-mask model (its save_pretrained exports the encoder)."""
        return LateMaskLMModule(model)


def build_objective(model: nn.Module, sparse: bool = True) -> MLMObjective | Seq2SeqObjective | LateMaskObjective:
    """The objective a model trains with: seq2seq for encoder-decoders (MASS), late-mask for 3ML
    models (always sparse), masked LM otherwise."""
    from mlmkit.models.late_mask import LateMaskForMaskedLM

    if isinstance(model, LateMaskForMaskedLM):
        return LateMaskObjective()
    if getattr(model.config, "is_encoder_decoder", False):
        return Seq2SeqObjective()
    return MLMObjective(sparse=sparse)
