"""The sparse MLM head gives the dense head's loss and gradients, and saves a plain HF model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import transformers

from mlmkit.train.objectives import MLMObjective

SMALL = {"vocab_size": 120, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


def _model(family: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if family == "bert":
        return transformers.BertForMaskedLM(transformers.BertConfig(**SMALL))
    return transformers.RobertaForMaskedLM(transformers.RobertaConfig(**SMALL, pad_token_id=1))


def _batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(5, 120, (4, 24), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[2, 15:] = 0
    input_ids[2, 15:] = 1
    labels = torch.where(torch.rand(4, 24, generator=generator) < 0.3, input_ids, -100)
    labels[attention_mask == 0] = -100
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_sparse_loss_and_gradients_equal_the_dense_ones(family: str) -> None:
    model, batch = _model(family).eval(), _batch()
    reference = model(**batch).loss  # HF's own dense loss
    results = {}
    for sparse in (True, False):
        model.zero_grad()
        outputs = MLMObjective(sparse=sparse).wrap(model)(**batch)
        outputs["loss"].backward()
        results[sparse] = (outputs, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    (sparse_out, sparse_grads), (dense_out, dense_grads) = results[True], results[False]
    torch.testing.assert_close(sparse_out["loss"], reference)
    torch.testing.assert_close(dense_out["loss"], reference)
    for key in ("row_loss_sum", "row_count", "row_correct"):
        torch.testing.assert_close(sparse_out[key], dense_out[key])
    assert sparse_out["row_count"].sum() == (batch["labels"] != -100).sum()
    assert sparse_grads.keys() == dense_grads.keys()
    for name, grad in sparse_grads.items():
        torch.testing.assert_close(grad, dense_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_wrapping_does_not_change_what_is_saved(tmp_path: Path) -> None:
    model = _model("bert")
    module = MLMObjective(sparse=True).wrap(model)
    module.model.save_pretrained(tmp_path)
    reloaded = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path, local_files_only=True)
    assert type(reloaded) is transformers.BertForMaskedLM
    assert reloaded.state_dict().keys() == model.state_dict().keys()
