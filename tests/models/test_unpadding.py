"""Unpadding: a padded batch run as one row of its real tokens gives the padded result, where it applies."""

from __future__ import annotations

import pytest
import torch
import transformers

from mlmkit.models.factory import set_attention
from mlmkit.models.unpadding import unpadding_problem, varlen_inputs
from mlmkit.train.objectives import MaskedLMModule

VOCAB = 120


def modernbert(attn_implementation: str = "sdpa_varlen", **fields) -> torch.nn.Module:
    """A 3-layer ModernBERT with global attention in layer 0 and an 8-token window (4 each side) in layers 1-2."""
    config = transformers.ModernBertConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2, local_attention=8, **fields,
    )  # fmt: skip
    torch.manual_seed(0)
    return set_attention(transformers.ModernBertForMaskedLM(config), attn_implementation)


def padded_batch() -> dict[str, torch.Tensor]:
    """Rows of 24, 13 and 5 real tokens (longer than the window), right-padded; 30% of real tokens labelled."""
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(3, VOCAB, (3, 24), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 13:] = attention_mask[2, 5:] = 0
    input_ids[attention_mask == 0] = 0
    labels = torch.where(torch.rand(3, 24, generator=generator) < 0.3, input_ids, -100)
    labels[attention_mask == 0] = -100
    labels[2, 1] = input_ids[2, 1]
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def test_varlen_inputs_keep_the_real_tokens_their_columns_and_the_sequence_bounds() -> None:
    batch = padded_batch()
    inputs, token_index = varlen_inputs({"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}, modernbert().config)
    assert inputs["input_ids"].shape == (1, 42) and token_index.max() == 41
    assert token_index[batch["attention_mask"].bool()].tolist() == list(range(42)) and (token_index[batch["attention_mask"] == 0] == -1).all()
    assert inputs["input_ids"][0].tolist() == batch["input_ids"][batch["attention_mask"].bool()].tolist()
    assert inputs["position_ids"][0].tolist() == list(range(24)) + list(range(13)) + list(range(5))
    assert inputs["cu_seq_lens_q"].tolist() == [0, 24, 37, 42] and inputs["cu_seq_lens_q"].dtype == torch.int32
    assert inputs["max_length_q"] == inputs["max_length_k"] == 24
    assert inputs["attention_mask"] == {"full_attention": None, "sliding_attention": None}


@pytest.mark.parametrize("sparse", [True, False])
def test_unpadded_loss_and_gradients_equal_the_padded_ones(sparse: bool) -> None:
    model, batch = modernbert().eval(), padded_batch()
    modules = {unpad: MaskedLMModule(model, sparse=sparse, unpad=unpad) for unpad in (True, False)}
    assert [modules[True].unpad, modules[False].unpad, modules[True].sparse] == [True, False, sparse]
    shapes = []
    model.base_model.register_forward_hook(lambda module, args, output: shapes.append(tuple(output[0].shape)), prepend=True)
    results = {}
    for unpad, module in modules.items():
        model.zero_grad()
        outputs = module(**batch)
        outputs["loss"].backward()
        results[unpad] = (outputs, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None})
    assert shapes == [(1, 42, 32), (3, 24, 32)]  # the body ran on the 42 real tokens, then on the padded batch
    torch.testing.assert_close(results[True][0]["loss"], model(**batch).loss)
    for key in ("loss", "row_loss_sum", "row_count", "row_correct", "target_ids"):
        torch.testing.assert_close(results[True][0][key], results[False][0][key], rtol=1e-5, atol=1e-6, msg=key)
    for name, grad in results[True][1].items():
        torch.testing.assert_close(grad, results[False][1][name], rtol=1e-4, atol=1e-6, msg=name)


def test_a_batch_without_padding_runs_padded() -> None:
    model, batch = modernbert().eval(), padded_batch()
    batch["attention_mask"][:] = 1
    shapes = []
    model.base_model.register_forward_hook(lambda module, args, output: shapes.append(tuple(output[0].shape)), prepend=True)
    MaskedLMModule(model, sparse=False)(**batch)
    assert shapes == [(3, 24, 32)]


def test_unpadding_applies_only_with_a_variable_length_attention_and_architecture() -> None:
    assert unpadding_problem(modernbert("sdpa_varlen")) is None
    assert "no variable-length path" in unpadding_problem(modernbert("sdpa"))
    assert MaskedLMModule(modernbert("sdpa")).unpad is False
    distilbert = transformers.DistilBertForMaskedLM(transformers.DistilBertConfig(vocab_size=VOCAB, dim=32, n_layers=1, n_heads=2, hidden_dim=64))
    assert "not one of the unpadded architectures" in unpadding_problem(set_attention(distilbert, "sdpa_varlen"))


def test_torch_varlen_says_in_one_line_what_it_needs() -> None:
    """PyTorch's FlashAttention varlen kernel runs on CUDA in bf16/fp16 without attention dropout; a padded
    batch without flattening is plain SDPA anywhere."""
    from mlmkit.errors import MlmkitError

    model, batch = modernbert("torch_varlen", attention_dropout=0.1), padded_batch()
    module = MaskedLMModule(model)
    assert module.unpad
    with pytest.raises(MlmkitError, match=r"torch_varlen has no attention dropout, and the model asks for 0.1"):
        module(**batch)
    model.eval()
    with pytest.raises(MlmkitError, match=r"torch_varlen runs on CUDA in bf16/fp16, got torch.float32 on cpu"):
        module(**batch)
    batch["attention_mask"][:] = 1
    torch.testing.assert_close(module(**batch)["loss"], MaskedLMModule(modernbert("sdpa"))(**batch)["loss"])
