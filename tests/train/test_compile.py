"""Compiled steps (`train.compile: true`): the compiled core gives the eager loss, and traces without graph breaks."""

from __future__ import annotations

import pytest
import torch
import transformers

from mlmkit.config import LateMaskConfig
from mlmkit.masking.late_mask_output import to_late_mask
from mlmkit.models.late_mask import LateMaskForMaskedLM
from mlmkit.models.sparse_head import take_slots, target_slots
from mlmkit.train.objectives import LateMaskLMModule, MaskedLMModule, row_index

VOCAB, MASK_ID, SEPARATOR = 60, 4, 2


def tiny_bert(layers: int = 1) -> torch.nn.Module:
    config = transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=64,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    torch.manual_seed(0)
    return transformers.BertForMaskedLM(config)


def mlm_batch(rows: int = 4, length: int = 24, seed: int = 0) -> dict[str, torch.Tensor]:
    """Packed-looking rows: [CLS] first, separators inside, 25% of the other tokens labelled."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, VOCAB, (rows, length), generator=generator)
    input_ids[:, 0] = 1
    input_ids[:, [7, 15]] = SEPARATOR
    labels = torch.where((torch.rand(rows, length, generator=generator) < 0.25) & (input_ids >= 5), input_ids, -100)
    return {"input_ids": input_ids.masked_fill(labels != -100, MASK_ID), "attention_mask": torch.ones_like(input_ids), "labels": labels}


def loss_and_grads(module: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    module.zero_grad()
    loss = module(**batch)["loss"]
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in module.named_parameters() if p.grad is not None}


def test_the_compiled_sparse_step_gives_the_eager_loss_and_gradients() -> None:
    """torch.compile's default backend (inductor, C++ on a CPU): the training step's loss and gradients."""
    module, batch = MaskedLMModule(tiny_bert()), mlm_batch()
    eager_loss, eager_grads = loss_and_grads(module, batch)
    module.compile_core()
    compiled_loss, compiled_grads = loss_and_grads(module, batch)
    torch.testing.assert_close(compiled_loss, eager_loss, rtol=1e-5, atol=1e-6)
    assert compiled_grads.keys() == eager_grads.keys()
    for name, grad in compiled_grads.items():
        torch.testing.assert_close(grad, eager_grads[name], rtol=1e-4, atol=1e-6, msg=name)
    other = mlm_batch(seed=1)  # the same label count per row after rounding: the compiled shapes hold
    assert target_slots(other["labels"]).shape == target_slots(batch["labels"]).shape
    torch.testing.assert_close(module(**other)["loss"], MaskedLMModule(module.model)(**other)["loss"], rtol=1e-5, atol=1e-6)


def graph_breaks(function, *args) -> int:
    torch._dynamo.reset()
    return torch._dynamo.explain(function)(*args).graph_break_count


@pytest.mark.parametrize("separator_id", [None, SEPARATOR])
def test_the_masked_lm_core_traces_in_one_graph(separator_id: int | None) -> None:
    """The sparse head (gathered by index) and the block-diagonal document mask need no host read."""
    module, batch = MaskedLMModule(tiny_bert(2), separator_id=separator_id).train(), mlm_batch()
    inputs, token_index = module.body_inputs(batch["input_ids"], batch["attention_mask"], {})
    assert token_index is None
    slots = target_slots(batch["labels"])
    body_index = slots.clamp(min=0) + torch.arange(0, batch["labels"].numel(), batch["labels"].shape[1])[:, None]
    targets = take_slots(batch["labels"], slots, -100)
    assert graph_breaks(module.compute, inputs, body_index, targets, row_index(slots), 4) == 0


@pytest.mark.parametrize("variant", ["self", "cross"])
def test_the_late_mask_core_traces_in_one_graph(variant: str) -> None:
    model = LateMaskForMaskedLM(tiny_bert(2), LateMaskConfig(late_layers=1, variant=variant), MASK_ID)
    module, batch = LateMaskLMModule(model, separator_id=SEPARATOR).train(), mlm_batch()
    late = to_late_mask(batch["input_ids"], batch["labels"], batch["attention_mask"], MASK_ID, 0)
    labels, visible_labels = late.pop("labels"), late.pop("visible_labels")
    visible_labels[:, 3] = 7  # a random/kept token left visible in each row
    assert graph_breaks(module.compute, labels, visible_labels, target_slots(visible_labels), late) == 0
