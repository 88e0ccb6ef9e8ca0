"""Objectives: what the one loop optimises, computed from a collator batch (STYLE §3.4).

Each objective wraps the HF model in a training module instead of subclassing it, so what is saved
stays the plain HF model. A module's forward has two parts:
- an eager preamble that lays the batch out: the labelled positions as a (B, K) index (the sparse head,
  `mlmkit.models.sparse_head`), a flattened batch for variable-length attention (unpadding,
  `mlmkit.models.unpadding`), a block-diagonal mask per document (`mlmkit.models.documents`). It reads
  at most a few numbers back from the device (K, the sequence count), before the body runs;
- a core with static shapes and no host read: the model, the head at the slots, the loss and per-row
  counts. `compile_core()` (`train.compile: true`) compiles the core with `torch.compile`.

`MLMObjective(sparse=True)` computes the head at labelled positions only, where the model's head allows
it (checked when the module is built; the dense head and one log line otherwise). With an attention
implementation that has a variable-length path, batches with padding run unpadded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mlmkit.errors import MlmkitError
from mlmkit.logs import logger
from mlmkit.models.documents import block_attention_inputs, document_layout, document_starts
from mlmkit.models.sparse_head import IGNORE_INDEX, BodyOutputCut, sparse_head_problem, take_slots, target_slots
from mlmkit.models.unpadding import VARLEN_ATTENTION, unpadding_problem, varlen_inputs

__all__ = ["IGNORE_INDEX", "MaskedLMModule", "LateMaskLMModule", "Seq2SeqLMModule", "build_objective", "slot_statistics"]


def slot_statistics(logits: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor, batch_size: int) -> dict[str, torch.Tensor]:
    """Loss and per-row sums from logits at prediction slots; static shapes, no host read.

    Args:
        logits: (R, K, V) at R x K slots.
        targets: (R, K) target ids, -100 on slots that predict nothing.
        rows: (R, K) the batch row each slot belongs to.
        batch_size: B, the number of batch rows.

    Returns:
        loss (scalar, mean over targets), row_loss_sum (B,), row_count (B,), row_correct (B,), and per slot
        (R, K): token_loss (detached, 0 off targets), target_correct, target_ids.
    """
    valid = targets != IGNORE_INDEX
    token_loss = nn.functional.cross_entropy(
        logits.float().flatten(0, -2), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="none"
    ).view_as(targets)  # (R, K)
    correct = (logits.detach().argmax(dim=-1) == targets) & valid
    rows = rows.flatten()
    return {
        "loss": token_loss.sum() / valid.sum().clamp(min=1),
        "row_loss_sum": token_loss.new_zeros(batch_size).index_add_(0, rows, token_loss.detach().flatten()),
        "row_count": torch.zeros(batch_size, dtype=torch.long, device=rows.device).index_add_(0, rows, valid.flatten().long()),
        "row_correct": token_loss.new_zeros(batch_size).index_add_(0, rows, correct.flatten().float()),
        "token_loss": token_loss.detach(),
        "target_correct": correct,
        "target_ids": targets,
    }


def row_index(shape_like: torch.Tensor) -> torch.Tensor:
    """(B, K) the row of every slot of a (B, K) layout."""
    return torch.arange(shape_like.shape[0], device=shape_like.device)[:, None].expand(shape_like.shape[:2])


class TrainingModule(nn.Module):
    """What the objectives' modules share: the model, the compilable core, the per-target outputs.

    Args:
        model: the HF model (saved as is).
        report_targets: also in training, return every target's id, loss and correctness in row order
            (for strategies that learn from the loss); in evaluation they always are. Taking them out of
            the slots is a boolean index, a host read that a training step otherwise does without.
    """

    def __init__(self, model: nn.Module, report_targets: bool = False) -> None:
        super().__init__()
        self.model = model
        self.report_targets = report_targets
        self.core = self.compute

    def compute(self, *args: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def compile_core(self, backend: str = "inductor") -> None:
        """Run the core through `torch.compile` from now on (the preamble stays eager)."""
        self.core = torch.compile(self.compute, backend=backend)

    def finish(self, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The core's outputs with the per-slot fields made per target (N,), in row order, or left out.

        Returns:
            loss, row_loss_sum (B,), row_count (B,), row_correct (B,); and target_ids, target_correct,
            token_loss (N,) in evaluation or with report_targets.
        """
        per_slot = ("target_ids", "target_correct", "token_loss")
        if self.model.training and not self.report_targets:
            return {key: value for key, value in outputs.items() if key not in per_slot}
        valid = outputs["target_ids"] != IGNORE_INDEX
        return {**outputs, **{key: outputs[key][valid] for key in per_slot}}


class MaskedLMModule(TrainingModule):
    """Training view of an HF masked-LM model: forward returns the loss and per-row counts.

    Accelerate prepares (and DDP wraps) this module, so gradient sync sees one forward call.

    Args:
        model: any `AutoModelForMaskedLM` model.
        sparse: compute the head at labelled positions only, where the model's head allows it.
        unpad: run batches with padding unpadded, where the model and its attention allow it.
        separator_id: keep the documents of packed blocks apart (`data.document_attention: block`,
            `mlmkit.models.documents`): the id that ends a document; None attends across the block.
        report_targets: see `TrainingModule`.

    Raises:
        MlmkitError: with `separator_id`, a model whose hidden states in a block differ from those of its
            documents run alone (checked on a small block when the module is built).
    """

    def __init__(
        self, model: nn.Module, sparse: bool = True, unpad: bool = True, separator_id: int | None = None, report_targets: bool = False
    ) -> None:
        from mlmkit.models.factory import position_offset

        super().__init__(model, report_targets)
        problem = sparse_head_problem(model) if sparse else None
        if problem is not None:
            logger.warning(f"{type(model).__name__}: the sparse MLM head does not apply ({problem}); using the dense head")
        self.sparse = sparse and problem is None
        self.cut = BodyOutputCut(model.base_model) if self.sparse else None
        self.varlen = unpadding_problem(model) is None  # a flattened batch runs exactly
        self.unpad = unpad and self.varlen
        self.separator_id = separator_id
        self.position_offset = position_offset(type(model.config), getattr(model.config, "pad_token_id", None))
        if separator_id is not None and (problem := document_attention_problem(self)) is not None:
            raise MlmkitError(
                f"data.document_attention=block: {type(model).__name__} with attention {model.config._attn_implementation!r} "
                f"does not keep documents apart ({problem}); use model.family bert, roberta or modernbert with attention "
                "sdpa, eager or a variable-length one, or set data.document_attention=none"
            )

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
            See `TrainingModule.finish`.
        """
        inputs, token_index = self.body_inputs(input_ids, attention_mask, extras)
        if self.sparse:
            slots = target_slots(labels)  # (B, K)
            if token_index is None:  # the padded batch: tokens in row-major order
                token_index = torch.arange(labels.numel(), device=labels.device).view_as(labels)
            body_index = take_slots(token_index, slots, 0)
            outputs = self.core(inputs, body_index, take_slots(labels, slots, IGNORE_INDEX), row_index(slots), labels.shape[0])
        elif token_index is None:
            outputs = self.core(inputs, None, labels, row_index(labels), labels.shape[0])
        else:  # the dense head on a flattened batch: one row of the real tokens
            kept = token_index >= 0
            outputs = self.core(inputs, None, labels[kept][None], row_index(labels)[kept][None], labels.shape[0])
        return self.finish(outputs)

    def compute(
        self, inputs: dict[str, Any], body_index: torch.Tensor | None, targets: torch.Tensor, rows: torch.Tensor, batch_size: int
    ) -> dict[str, torch.Tensor]:
        """The core: the model (its head at `body_index` (B, K) of the body's tokens, or dense) and `slot_statistics`."""
        if body_index is None:
            logits = self.model(**inputs).logits  # (R, K, V)
        else:
            self.cut.index = body_index.flatten()
            try:
                logits = self.model(**inputs).logits[0].view(*body_index.shape, -1)  # (B, K, V)
            finally:
                self.cut.index = None
        return slot_statistics(logits, targets, rows, batch_size)

    def body_inputs(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, extras: dict[str, torch.Tensor]
    ) -> tuple[dict[str, Any], torch.Tensor | None]:
        """The model inputs, flattened where a variable-length attention runs them, and each token's index
        in the flattened row (B, T) (None: the batch stays padded)."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, **extras}
        documents = self.separator_id is not None
        if documents and self.varlen:
            starts = document_starts(input_ids == self.separator_id, attention_mask.bool())
            return varlen_inputs(inputs, self.model.config, starts, document_layout(starts)[1], self.position_offset)
        if self.unpad and not bool(attention_mask.all()):
            return varlen_inputs(inputs, self.model.config, position_offset=self.position_offset)
        if documents:
            dtype = next(self.model.parameters()).dtype
            inputs.update(block_attention_inputs(self.model.config, input_ids, attention_mask, self.separator_id, self.position_offset, dtype))
        return inputs, None


def document_attention_problem(module: MaskedLMModule) -> str | None:
    """Why `module` cannot keep documents apart (None when it can).

    Checked on a block of three documents: the body's hidden states in the block must equal those of each
    document run alone (eval mode; the global RNG is not touched). Variable-length kernels are checked
    through `sdpa_varlen`, which takes the same flattened batch on any device.
    """
    model, separator = module.model, module.separator_id
    implementation = model.config._attn_implementation
    device = next(model.parameters()).device
    ordinary = [i for i in range(model.config.vocab_size) if i not in (separator, model.config.pad_token_id)]
    input_ids = torch.tensor(ordinary)[torch.randint(len(ordinary), (1, 12), generator=torch.Generator().manual_seed(0))].to(device)
    input_ids[0, [3, 8]] = separator  # documents: columns 0-3, 4-8, 9-11
    training = model.training
    model.eval()
    try:
        if implementation in VARLEN_ATTENTION:
            model.set_attn_implementation("sdpa_varlen")
        with torch.no_grad():
            inputs, token_index = module.body_inputs(input_ids, torch.ones_like(input_ids), {})
            packed = model.base_model(**inputs)[0].flatten(0, 1)  # (12, H), token order
            alone = torch.cat([model.base_model(input_ids=piece)[0][0] for piece in input_ids.split([4, 5, 3], dim=1)])
    except Exception as error:  # any architecture: report why
        return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
    finally:
        model.set_attn_implementation(implementation)
        model.train(training)
    if not torch.allclose(packed, alone, rtol=1e-4, atol=1e-5):
        return "its hidden states in a block differ from those of its documents run alone"
    return None


@dataclass(frozen=True)
class MLMObjective:
    """Masked-LM cross-entropy over labelled positions; `sparse` computes the head only there."""

    sparse: bool = True
    separator_id: int | None = None
    report_targets: bool = False

    def wrap(self, model: nn.Module) -> MaskedLMModule:
        """The module the loop trains; `module.model` is the HF model to save."""
        return MaskedLMModule(model, sparse=self.sparse, separator_id=self.separator_id, report_targets=self.report_targets)


class Seq2SeqLMModule(TrainingModule):
    """Training view of an HF encoder-decoder (MASS): the same loss and counts as `MaskedLMModule`.

    Labels live on the decoder side (B, L). Every decoder position but the padding is a target, so
    the head runs densely: a sparse head would only skip the padding.
    """

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor, **decoder_inputs: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Loss over the labelled decoder positions and per-row sums (see `TrainingModule.finish`).

        Args:
            input_ids: (B, T) encoder ids, corrupted by the collator.
            attention_mask: (B, T).
            labels: (B, L) target ids on the decoder side, -100 on padding.
            decoder_inputs: `decoder_input_ids`, `decoder_attention_mask`, `decoder_position_ids` (B, L).
        """
        return self.finish(self.core(input_ids, attention_mask, labels, decoder_inputs))

    def compute(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor, decoder_inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, **decoder_inputs).logits  # (B, L, V)
        return slot_statistics(logits, labels, row_index(labels), labels.shape[0])


@dataclass(frozen=True)
class Seq2SeqObjective:
    """Cross-entropy of an encoder-decoder's predictions of the decoder labels (MASS)."""

    report_targets: bool = False

    def wrap(self, model: nn.Module) -> Seq2SeqLMModule:
        """The module the loop trains; `module.model` is the HF model to save."""
        return Seq2SeqLMModule(model, self.report_targets)


class LateMaskLMModule(TrainingModule):
    """Training view of a 3ML late-mask model: the same loss and counts as `MaskedLMModule`.

    Targets are the late [MASK] slots (B, M) plus any selected tokens left visible in the encoder
    input; the model computes the head at those slots only, so it is always sparse.

    Args:
        model: a `LateMaskForMaskedLM`.
        separator_id: keep the documents of packed blocks apart (see `MaskedLMModule`).
        report_targets: see `TrainingModule`.
    """

    def __init__(self, model: nn.Module, separator_id: int | None = None, report_targets: bool = False) -> None:
        super().__init__(model, report_targets)
        self.separator_id = separator_id
        if separator_id is not None:
            model.check_document_attention()

    def forward(self, labels: torch.Tensor, visible_labels: torch.Tensor | None = None, **batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss and per-row sums (see `TrainingModule.finish`) of a late-mask batch (`mlmkit.masking.late_mask_output`)."""
        visible_slots = target_slots(visible_labels) if visible_labels is not None else None  # (B, K)
        return self.finish(self.core(labels, visible_labels, visible_slots, batch))

    def compute(
        self, labels: torch.Tensor, visible_labels: torch.Tensor | None, visible_slots: torch.Tensor | None, batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        logits, targets = self.model.target_logits(
            labels=labels, visible_labels=visible_labels, visible_slots=visible_slots, separator_id=self.separator_id, **batch
        )  # (B, S, V), (B, S)
        return slot_statistics(logits, targets, row_index(targets), labels.shape[0])


@dataclass(frozen=True)
class LateMaskObjective:
    """Masked-LM cross-entropy of a late-mask model at its [MASK] slots (and visible targets)."""

    separator_id: int | None = None
    report_targets: bool = False

    def wrap(self, model: nn.Module) -> LateMaskLMModule:
        """The module the loop trains; `module.model` is the late-mask model (its save_pretrained exports the encoder)."""
        return LateMaskLMModule(model, self.separator_id, self.report_targets)


def build_objective(
    model: nn.Module, sparse: bool = True, separator_id: int | None = None, report_targets: bool = False
) -> MLMObjective | Seq2SeqObjective | LateMaskObjective:
    """The objective a model trains with: seq2seq for encoder-decoders (MASS), late-mask for 3ML
    models (always sparse), masked LM otherwise.

    Args:
        model: the HF model (or a `LateMaskForMaskedLM`).
        sparse: the sparse MLM head (masked LMs).
        separator_id: keep documents apart (`data.document_attention: block`); the id that ends a document.
        report_targets: per-target outputs in training too (see `TrainingModule`).

    Raises:
        MlmkitError: document attention for an encoder-decoder.
    """
    from mlmkit.models.late_mask import LateMaskForMaskedLM

    if isinstance(model, LateMaskForMaskedLM):
        return LateMaskObjective(separator_id, report_targets)
    if getattr(model.config, "is_encoder_decoder", False):
        if separator_id is not None:
            raise MlmkitError("data.document_attention=block applies to masked-LM encoders, not to encoder-decoders (MASS); set it to none")
        return Seq2SeqObjective(report_targets)
    return MLMObjective(sparse=sparse, separator_id=separator_id, report_targets=report_targets)
