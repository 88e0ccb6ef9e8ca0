"""The sparse MLM head: the model's own head run at the labelled positions only, gathered by index.

The transformer body runs on the whole block, but the prediction head (transform + vocabulary projection,
the largest matmul of a small model) runs only where a label is. Original BERT did this
(`gather_indexes` in run_pretraining.py), as does ModernBERT (`sparse_prediction`);
HF's BertForMaskedLM / RobertaForMaskedLM project every position.

It is the model's own forward with the body's output cut to those positions (`BodyOutputCut`, a forward
hook on `model.base_model`): no list of head module names, so it applies to every family whose head works
position by position (BERT, RoBERTa, XLM-R, DistilBERT, ALBERT, an ELECTRA generator, DeBERTa-v2,
ModernBERT, ...). `sparse_head_problem` checks that on a small batch.

Static shapes, for compiled steps: the positions are a (B, K) index, K = the most labels in a row of
the batch rounded up to a multiple of `SLOT_MULTIPLE` (-1 fills the rest of shorter rows), so the head
runs on B x K slots. Budget-exact collators put round(rate x maskable tokens) labels in every row, so K
is the same from batch to batch and a compiled step keeps one shape; no boolean indexing runs between
reading K and the loss.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mlmkit.masking.corruption import IGNORE_INDEX

SLOT_MULTIPLE = 8  # K is rounded up to this, so small changes in the label count keep the shape


def target_slots(labels: torch.Tensor) -> torch.Tensor:
    """The columns of each row's labelled positions, in column order, -1 after the last.

    Reads the largest count back from the device once (the one host read of a sparse step).

    Args:
        labels: (B, T), -100 where nothing is predicted.

    Returns:
        LongTensor (B, K), K = min(T, the most labels in a row rounded up to SLOT_MULTIPLE).
    """
    selected = labels != IGNORE_INDEX  # (B, T)
    counts = selected.sum(dim=1)  # (B,)
    most = int(counts.max()) if counts.numel() else 0
    width = min(labels.shape[1], -(-most // SLOT_MULTIPLE) * SLOT_MULTIPLE)
    columns = (~selected).to(torch.int8).argsort(dim=1, stable=True)[:, :width]  # (B, K) labelled columns first
    filled = torch.arange(width, device=labels.device) < counts[:, None]
    return torch.where(filled, columns, -1)


def take_slots(values: torch.Tensor, slots: torch.Tensor, fill: int) -> torch.Tensor:
    """values (B, T) at slots (B, K); `fill` where a slot is -1."""
    return values.gather(1, slots.clamp(min=0)).masked_fill(slots < 0, fill)


def gather_rows(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values (B, W, H) at slots index (B, n) -> (B, n, H); slots of -1 read slot 0."""
    return values.gather(1, index.clamp(min=0)[..., None].expand(-1, -1, values.shape[-1]))


class BodyOutputCut:
    """A forward hook on a model's body (`model.base_model`) that, while `index` is set, makes the body return
    only its hidden states there, (1, N, H): the model's head, whatever its modules, then runs on those N
    positions only. With `index` None the body's output passes unchanged.

    The hook stays registered: a hook registered inside a compiled step would break its graph, while
    setting `index` is an attribute write that `torch.compile` traces.

    Args:
        body: the transformer body whose first output is the last hidden state (B, T, H) or (1, N_tokens, H).
    """

    def __init__(self, body: nn.Module) -> None:
        self.index: torch.Tensor | None = None  # (N,) positions in the body's tokens taken in row-major order
        self.handle = body.register_forward_hook(self.cut)

    def cut(self, module: nn.Module, args: Any, output: Any) -> Any:
        if self.index is None:
            return output
        hidden = output[0] if isinstance(output, tuple) else output.last_hidden_state
        kept = hidden.flatten(0, 1).index_select(0, self.index).unsqueeze(0)
        if isinstance(output, tuple):
            return (kept, *output[1:])
        output.last_hidden_state = kept  # ModelOutput: item and attribute
        return output

    def remove(self) -> None:
        self.handle.remove()


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
    index = torch.tensor([1, 8 + 3, 8 + 6], device=device)  # row 0 column 1, row 1 columns 3 and 6
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    training = model.training
    model.eval()
    cut = BodyOutputCut(model.base_model)
    try:
        with torch.no_grad():
            dense = model(**inputs).logits.flatten(0, 1)[index]  # (3, V)
            cut.index = index
            sparse = model(**inputs).logits[0]
    except Exception as error:  # any architecture: report why, the caller falls back to the dense head
        return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
    finally:
        cut.remove()
        model.train(training)
    if sparse.shape != dense.shape or not torch.allclose(sparse, dense, rtol=1e-4, atol=1e-5):
        return "its head does not compute each position on its own"
    return None
