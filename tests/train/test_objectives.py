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


class MixingHead(torch.nn.Module):
    """An MLM head that is not position-wise: each position's logits also see the mean over the sequence."""

    def __init__(self, head: torch.nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(hidden + hidden.mean(dim=1, keepdim=True))


def test_a_head_that_mixes_positions_gets_the_dense_head_and_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    model = _model("bert").eval()
    model.cls = MixingHead(model.cls)
    batch = _batch()
    with caplog.at_level("INFO", logger="mlmkit"):
        module = MLMObjective(sparse=True).wrap(model)
    assert module.sparse is False
    lines = [record.getMessage() for record in caplog.records if record.name == "mlmkit"]
    assert len(lines) == 1 and "sparse MLM head does not apply" in lines[0] and "using the dense head" in lines[0]
    torch.testing.assert_close(module(**batch)["loss"], model(**batch).loss)


def test_a_model_whose_forward_fails_on_the_check_batch_gets_the_dense_head(caplog: pytest.LogCaptureFixture) -> None:
    """X-MOD needs a language before any forward: the check reports why instead of crashing."""
    config = transformers.XmodConfig(**SMALL, pad_token_id=1)
    with caplog.at_level("INFO", logger="mlmkit"):
        module = MLMObjective(sparse=True).wrap(transformers.XmodForMaskedLM(config))
    assert module.sparse is False
    assert any("Input language unknown" in record.getMessage() for record in caplog.records)


def test_the_sparse_head_is_not_checked_when_it_is_switched_off(caplog: pytest.LogCaptureFixture) -> None:
    model = _model("bert")
    model.cls = MixingHead(model.cls)
    with caplog.at_level("INFO", logger="mlmkit"):
        assert MLMObjective(sparse=False).wrap(model).sparse is False
    assert not caplog.records


@pytest.mark.parametrize("report_targets", [False, True])
def test_training_steps_leave_out_per_target_outputs_unless_asked(report_targets: bool) -> None:
    """Taking the targets out of the (B, K) slots is a boolean index (a host read): a training step does it
    only for strategies that learn from the loss; evaluation always does."""
    model, batch = _model("bert"), _batch()
    module = MLMObjective(report_targets=report_targets).wrap(model)
    labels = batch["labels"][batch["labels"] != -100]
    training = module(**batch)
    assert ("target_ids" in training) is report_targets
    assert int(training["row_count"].sum()) == labels.numel()
    model.eval()
    evaluation = module(**batch)
    assert evaluation["target_ids"].tolist() == labels.tolist()
    assert evaluation["token_loss"].shape == evaluation["target_correct"].shape == labels.shape
