"""The MASS encoder-decoder: explicit decoder positions, plain-BART checkpoints, generation."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM

from mlmkit.errors import MlmkitError
from mlmkit.models.mass import MassForConditionalGeneration, mass_bart_config


@pytest.fixture(scope="module")
def model() -> MassForConditionalGeneration:
    config = mass_bart_config(
        vocab_size=60, pad_token_id=0, bos_token_id=1, eos_token_id=2, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=32, dropout=0.0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return MassForConditionalGeneration(config).eval()


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(3, 60, (2, 12), generator=generator), torch.randint(3, 60, (2, 4), generator=generator)


def _decoder_embedding_input(model, **kwargs) -> torch.Tensor:
    """What the decoder's embedding LayerNorm receives: token + position embeddings."""
    captured = []
    hook = model.model.decoder.layernorm_embedding.register_forward_pre_hook(lambda module, args: captured.append(args[0]))
    try:
        model(**kwargs)
    finally:
        hook.remove()
    return captured[0]


def test_decoder_positions_are_the_given_ones(model):
    input_ids, decoder_input_ids = _inputs()
    positions = torch.tensor([[3, 4, 5, 6], [7, 8, 9, 10]])
    seen = _decoder_embedding_input(
        model, input_ids=input_ids, decoder_input_ids=decoder_input_ids, decoder_position_ids=positions
    )
    decoder = model.model.decoder
    expected = decoder.embed_tokens(decoder_input_ids) + decoder.embed_positions.weight[positions + decoder.embed_positions.offset]
    torch.testing.assert_close(seen, expected, atol=1e-6, rtol=0)


def test_default_positions_match_plain_bart(model):
    input_ids, decoder_input_ids = _inputs()
    plain = model(input_ids=input_ids, decoder_input_ids=decoder_input_ids).logits
    explicit = model(
        input_ids=input_ids, decoder_input_ids=decoder_input_ids, decoder_position_ids=torch.arange(4).expand(2, 4)
    ).logits
    torch.testing.assert_close(plain, explicit, atol=1e-6, rtol=0)


def test_gradient_reaches_only_the_used_position_rows(model):
    input_ids, decoder_input_ids = _inputs()
    positions = torch.tensor([[10, 11, 12, 13], [20, 21, 22, 23]])
    model.zero_grad()
    out = model(input_ids=input_ids, decoder_input_ids=decoder_input_ids, decoder_position_ids=positions, labels=decoder_input_ids)
    out.loss.backward()
    grad = model.model.decoder.embed_positions.weight.grad.norm(dim=1)  # (rows,)
    used = positions.flatten() + model.model.decoder.embed_positions.offset
    assert (grad[used] > 0).all()
    unused = torch.ones_like(grad, dtype=torch.bool)
    unused[used] = False
    assert grad[unused].max() < 1e-6  # the default rows' contributions cancel exactly up to rounding
    model.zero_grad()


def test_positions_beyond_the_table_are_refused(model):
    input_ids, decoder_input_ids = _inputs()
    with pytest.raises(MlmkitError, match="max_position_embeddings=32"):
        model(input_ids=input_ids, decoder_input_ids=decoder_input_ids, decoder_position_ids=torch.full((2, 4), 40))


def test_save_load_auto_and_generate(model, tmp_path):
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "bart" and config["architectures"] == ["BartForConditionalGeneration"]
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path, local_files_only=True).eval()
    assert type(loaded).__name__ == "BartForConditionalGeneration"
    input_ids, decoder_input_ids = _inputs()
    torch.testing.assert_close(
        loaded(input_ids=input_ids, decoder_input_ids=decoder_input_ids).logits,
        model(input_ids=input_ids, decoder_input_ids=decoder_input_ids).logits,
    )
    generated = loaded.generate(input_ids, max_new_tokens=6, do_sample=False)
    assert generated.shape[0] == 2 and generated.shape[1] <= 7
    assert (generated[:, 0] == config["decoder_start_token_id"]).all()


def test_seq2seq_objective_matches_the_model_loss(model):
    from mlmkit.train.objectives import Seq2SeqObjective, build_objective

    assert isinstance(build_objective(model), Seq2SeqObjective)
    input_ids, decoder_input_ids = _inputs()
    labels = decoder_input_ids.clone()
    labels[1, 2:] = -100  # a shorter fragment in row 1
    batch = {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "decoder_input_ids": decoder_input_ids,
        "decoder_attention_mask": (labels != -100).long(),
        "decoder_position_ids": torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]]),
        "labels": labels,
    }
    outputs = build_objective(model).wrap(model)(**batch)
    torch.testing.assert_close(outputs["loss"], model(**batch).loss)
    assert outputs["row_count"].tolist() == [4, 2]
    torch.testing.assert_close(outputs["row_loss_sum"].sum() / 6, outputs["loss"].detach())


def test_realised_rate_counts_map_decoder_labels_to_encoder_positions():
    from mlmkit.train.metrics import realised_rate_counts

    batch = {
        "input_ids": torch.tensor([[101, 103, 103, 7, 102, 0]]),  # [CLS] [MASK] [MASK] 7 [SEP] [PAD]
        "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 0]]),
        "labels": torch.tensor([[5, 6, -100]]),
        "decoder_position_ids": torch.tensor([[1, 2, 0]]),
    }
    labelled, maskable = realised_rate_counts(batch, torch.tensor([0, 101, 102, 103]))
    assert (labelled.item(), maskable.item()) == (2.0, 3.0)
