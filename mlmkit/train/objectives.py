"""Objectives: what the one loop optimises, computed from a collator batch (STYLE §3.4).

`MLMObjective(sparse=True)` computes the masked-LM loss with a *sparse* head: the transformer body
runs on the whole block, but the prediction head (transform + vocabulary projection, the largest
matmul of a small model) runs only at positions that carry a label. Original BERT already did this
(`gather_indexes` in run_pretraining.py, papers.md §1a), as does ModernBERT (`sparse_prediction`);
HF's BertForMaskedLM / RobertaForMaskedLM project every position. The objective wraps the HF model in
a training module instead of subclassing it, so what is saved stays the plain HF model.

The sparse head is the model's own forward with the body's output cut to the labelled positions (a
forward hook on `model.base_model`): no list of head module names, so it applies to every family whose
head works position by position (BERT, RoBERTa, XLM-R, DistilBERT, ALBERT, an ELECTRA generator,
DeBERTa-v2, ModernBERT, ...). `sparse_head_problem` checks that on a small batch when the module is
built; where it fails, the module computes the dense head and says so in one log line.

With an attention implementation that has a variable-length path (`mlmkit.models.unpadding`), batches
with padding are also *unpadded*: the body runs on the real tokens only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mlmkit.logs import logger
from mlmkit.models.unpadding import unpad_inputs, unpadding_problem

IGNORE_INDEX = -100


class MaskedLMModule(nn.Module):
    """Training view of an HF masked-LM model: forward returns the loss and per-row counts.

    Accelerate prepares (and DDP wraps) this module, so gradient sync sees one forward call.

    Args:
        model: any `AutoModelForMaskedLM` model.
        sparse: compute the head at labelled positions only, where the model's head allows it.
        unpad: run batches with padding unpadded, where the model and its attention allow it.
    """

    def __init__(self, model: nn.Module, sparse: bool = True, unpad: bool = True) -> None:
        super().__init__()
        self.model = model
        problem = sparse_head_problem(model) if sparse else None
        if problem is not None:
            logger.warning(f"{type(model).__name__}: the sparse MLM head does not apply ({problem}); using the dense head")
        self.sparse = sparse and problem is None
        self.unpad = unpad and unpadding_problem(model) is None

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
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, **extras}
        wanted = selected
        if self.unpad and not bool(attention_mask.all()):
            inputs, kept = unpad_inputs(inputs, self.model.config)
            wanted = selected[kept].unsqueeze(0)  # (1, N_tokens): the labelled tokens, still in row order
        if self.sparse:
            with hidden_states_at(self.model.base_model, wanted):
                logits = self.model(**inputs).logits[0]  # (N, V)
        else:
            logits = self.model(**inputs).logits[wanted]  # (N, V)
        return label_statistics(logits, labels[selected], selected)


@contextlib.contextmanager
def hidden_states_at(body: nn.Module, keep: torch.Tensor) -> Iterator[None]:
    """Meanwhile, `body` (a model's `base_model`) returns only its hidden states at `keep`: (1, K, H).

    The model's head, whatever its modules, then runs on those K positions only.

    Args:
        body: the transformer body whose first output is the last hidden state (B, T, H).
        keep: (B, T) bool, the positions whose hidden states the head receives, in row-major order.
    """

    def cut(module: nn.Module, args: Any, output: Any) -> Any:
        if isinstance(output, tuple):
            return (output[0][keep].unsqueeze(0), *output[1:])
        output.last_hidden_state = output.last_hidden_state[keep].unsqueeze(0)  # ModelOutput: item and attribute
        return output

    handle = body.register_forward_hook(cut)
    try:
        yield
    finally:
        handle.remove()


def sparse_head_problem(model: nn.Module) -> str | None:
    """Why `model`'s head cannot run on selected positions only (None when it can).

    Checked, not assumed: on a 2 x 8 batch, the logits of the head run at three positions must equal
    the dense head's logits there (eval mode, no dropout; the global RNG is not touched).
    """
    if model.base_model is model:
        return "it has no separate transformer body"
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(model.config.vocab_size, (2, 8), generator=generator).to(device)
    keep = torch.zeros(2, 8, dtype=torch.bool, device=device)
    keep[0, 1] = keep[1, 3] = keep[1, 6] = True
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            dense = model(**inputs).logits[keep]  # (3, V)
            with hidden_states_at(model.base_model, keep):
                sparse = model(**inputs).logits[0]
    except Exception as error:  # any architecture: report why, the caller falls back to the dense head
        return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
    finally:
        model.train(training)
    if sparse.shape != dense.shape or not torch.allclose(sparse, dense, rtol=1e-4, atol=1e-5):
        return "its head does not compute each position on its own"
    return None


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
