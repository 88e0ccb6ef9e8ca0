"""Late-mask (3ML) model: equals a standard MLM when nothing is dropped, trains every parameter, exports an encoder."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertForMaskedLM,
    RobertaConfig,
    RobertaForMaskedLM,
)

from mlmkit.errors import MlmkitError
from mlmkit.config import LateMaskConfig
from mlmkit.models.late_mask import LateMaskForMaskedLM

MASK_ID = 4
VOCAB = 60
LAYERS = 3


def tiny_mlm(family: str) -> torch.nn.Module:
    """A tiny BERT or RoBERTa MLM; RoBERTa's pad id 1 makes its positions start at 2."""
    common = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=LAYERS, num_attention_heads=2, intermediate_size=64)
    torch.manual_seed(0)
    if family == "bert":
        return BertForMaskedLM(BertConfig(pad_token_id=0, **common)).eval()
    return RobertaForMaskedLM(RobertaConfig(pad_token_id=1, max_position_embeddings=40, **common)).eval()


def late_batch(ids: torch.Tensor, selected: torch.Tensor) -> dict[str, torch.Tensor]:
    """Late-mask batch for rows with the same number of selected positions (no padding slots)."""
    rows = ids.shape[0]
    index = torch.arange(ids.shape[1]).expand(rows, -1)
    kept, masked = index[~selected].view(rows, -1), index[selected].view(rows, -1)
    return {
        "input_ids": ids.gather(1, kept),
        "positions": kept,
        "masked_positions": masked,
        "labels": ids.gather(1, masked),
    }


def random_rows(rows: int = 3, length: int = 12, masks: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (rows, length), generator=generator)
    order = torch.rand(rows, length - 1, generator=generator).argsort(dim=1)[:, :masks] + 1  # never slot 0
    selected = torch.zeros(rows, length, dtype=torch.bool).scatter(1, order, True)
    return ids, selected


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_all_layers_late_equals_standard_model(family: str) -> None:
    """k = N: the [MASK]s rejoin right after the embeddings, so 3ML is exactly the standard MLM."""
    standard = tiny_mlm(family)
    model = LateMaskForMaskedLM(standard, LateMaskConfig(late_layers=LAYERS), mask_token_id=MASK_ID).eval()
    ids, selected = random_rows()
    batch = late_batch(ids, selected)
    reference = standard(input_ids=ids.masked_fill(selected, MASK_ID)).logits
    reference = reference.gather(1, batch["masked_positions"][..., None].expand(-1, -1, VOCAB))
    output = model(**batch)
    torch.testing.assert_close(output.logits, reference, rtol=1e-5, atol=1e-5)
    expected_loss = torch.nn.functional.cross_entropy(reference.flatten(0, 1), batch["labels"].flatten())
    torch.testing.assert_close(output.loss, expected_loss)


@pytest.mark.parametrize("family", ["bert", "roberta"])
@pytest.mark.parametrize("late_layers", [1, LAYERS])
def test_no_dropped_tokens_equals_standard_model(family: str, late_layers: int) -> None:
    """0% of the tokens dropped (every target left visible): any split of the layers is the standard MLM."""
    standard = tiny_mlm(family)
    model = LateMaskForMaskedLM(standard, LateMaskConfig(late_layers=late_layers)).eval()
    ids, selected = random_rows()
    batch = {
        "input_ids": ids,
        "positions": torch.arange(ids.shape[1]).expand(ids.shape[0], -1),
        "masked_positions": torch.zeros(ids.shape[0], 0, dtype=torch.long),
        "labels": torch.zeros(ids.shape[0], 0, dtype=torch.long),
        "visible_labels": ids.masked_fill(~selected, -100),
    }
    logits, targets = model.target_logits(**batch)  # (B, K, V): the visible targets of each row, then unused slots
    valid = targets != -100
    torch.testing.assert_close(logits[valid], standard(input_ids=ids).logits[selected], rtol=1e-5, atol=1e-5)
    assert torch.equal(targets[valid], ids[selected])


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_encoder_sees_only_unmasked_tokens_at_original_positions(family: str) -> None:
    """The first N−k layers equal the HF encoder run on the kept tokens with their original position ids."""
    standard = tiny_mlm(family)
    model = LateMaskForMaskedLM(standard, LateMaskConfig(late_layers=1)).eval()
    ids, selected = random_rows()
    batch = late_batch(ids, selected)
    captured = {}
    model.late_layers[0].register_forward_pre_hook(lambda module, args: captured.setdefault("full", args[0]))
    model(**batch)
    offset = 2 if family == "roberta" else 0
    truncated = tiny_mlm(family).base_model
    truncated.encoder.layer = truncated.encoder.layer[: LAYERS - 1]
    expected = truncated(input_ids=batch["input_ids"], position_ids=batch["positions"] + offset).last_hidden_state
    kept_slots = captured["full"].gather(1, batch["positions"][..., None].expand(-1, -1, 32))
    torch.testing.assert_close(kept_slots, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_dropped_tokens_equal_a_full_length_model_that_hides_them_early(family: str) -> None:
    """With [MASK]s dropped, 3ML_self equals the standard model run at full length where the first
    N−k layers cannot attend to the [MASK] slots and those slots restart from the [MASK] vector plus
    their position embedding at layer N−k: the whole dropped-token path, checked end to end."""
    standard = tiny_mlm(family)
    model = LateMaskForMaskedLM(standard, LateMaskConfig(late_layers=1)).eval()  # [MASK] vector drawn
    ids, selected = random_rows()
    batch = late_batch(ids, selected)
    rows, length = ids.shape
    base = standard.base_model
    position_ids = torch.arange(length).expand(rows, -1) + (2 if family == "roberta" else 0)
    hidden = base.embeddings(input_ids=ids, position_ids=position_ids)
    hide_masks = torch.zeros(rows, 1, length, length).masked_fill(selected[:, None, None, :], torch.finfo(torch.float32).min)
    for layer in base.encoder.layer[: LAYERS - 1]:
        hidden = layer(hidden, hide_masks)
    restarted = base.embeddings(inputs_embeds=model.mask_embedding.expand(rows, length, -1), position_ids=position_ids)
    hidden = base.encoder.layer[LAYERS - 1](torch.where(selected[..., None], restarted, hidden), None)
    reference = model.head(hidden).gather(1, batch["masked_positions"][..., None].expand(-1, -1, VOCAB))
    torch.testing.assert_close(model(**batch).logits, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", ["self", "cross"])
def test_padding_slots_do_not_change_results(variant: str) -> None:
    """A row padded with -1 slots (rows of unequal counts) gives what it gives alone."""
    model = LateMaskForMaskedLM(tiny_mlm("bert"), LateMaskConfig(late_layers=1, variant=variant)).eval()
    ids, selected = random_rows(rows=2)
    alone = model(**late_batch(ids[:1], selected[:1]))
    batch = late_batch(ids[:1], selected[:1])
    padded = {
        "input_ids": torch.cat([batch["input_ids"], torch.zeros(1, 2, dtype=torch.long)], dim=1),
        "positions": torch.cat([batch["positions"], torch.full((1, 2), -1)], dim=1),
        "masked_positions": torch.cat([batch["masked_positions"], torch.full((1, 3), -1)], dim=1),
        "labels": torch.cat([batch["labels"], torch.full((1, 3), -100)], dim=1),
    }
    padded["attention_mask"] = (padded["positions"] >= 0).long()
    output = model(**padded)
    masks = batch["masked_positions"].shape[1]
    torch.testing.assert_close(output.logits[:, :masks], alone.logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(output.loss, alone.loss, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", ["self", "cross"])
def test_gradients_reach_every_parameter(variant: str) -> None:
    model = LateMaskForMaskedLM(tiny_mlm("roberta"), LateMaskConfig(late_layers=1, variant=variant)).train()
    ids, selected = random_rows()
    batch = late_batch(ids, selected)
    batch["visible_labels"] = torch.full_like(batch["input_ids"], -100)
    batch["visible_labels"][:, 1] = 7  # one selected token left visible (80/10/10 "kept") per row
    model(**batch).loss.backward()
    # token_type_embeddings: only row 0 of type_vocab_size is used; the pooler is absent.
    missing = [name for name, parameter in model.named_parameters() if parameter.grad is None or not parameter.grad.any()]
    assert missing == []


def test_visible_targets_join_the_loss_by_count() -> None:
    model = LateMaskForMaskedLM(tiny_mlm("bert"), LateMaskConfig(late_layers=1)).eval()
    ids, selected = random_rows()
    batch = late_batch(ids, selected)
    masked_only = model(**batch).loss
    batch["visible_labels"] = torch.full_like(batch["input_ids"], -100)
    with_visible = model(**batch).loss
    torch.testing.assert_close(with_visible, masked_only)
    batch["visible_labels"][0, 2] = 9
    assert not torch.isclose(model(**batch).loss, masked_only)


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_saved_encoder_loads_for_sequence_classification(family: str, tmp_path) -> None:
    model = LateMaskForMaskedLM(tiny_mlm(family), LateMaskConfig(late_layers=1))
    model.save_pretrained(tmp_path)
    classifier = AutoModelForSequenceClassification.from_pretrained(tmp_path, num_labels=3, local_files_only=True)
    assert classifier.config.num_hidden_layers == LAYERS - 1  # paper: late layers dropped for fine-tuning
    source = model.mlm.base_model.state_dict()
    for name, tensor in classifier.base_model.state_dict().items():
        if name in source:
            torch.testing.assert_close(tensor, source[name])
    assert "encoder.layer.1.output.dense.weight" in classifier.base_model.state_dict()
    logits = classifier(input_ids=torch.tensor([[5, 6, 7, 8]])).logits
    assert logits.shape == (1, 3)


def test_cross_variant_composes_like_an_hf_decoder_layer() -> None:
    """3ML_cross's late layer = HF's BERT decoder layer (self-attention, cross-attention, FFN), non-causal."""
    model = LateMaskForMaskedLM(tiny_mlm("bert"), LateMaskConfig(late_layers=1, variant="cross")).eval()
    captured = {}
    model.mlm.cls.register_forward_pre_hook(lambda module, args: captured.setdefault("late", args[0]))
    model.late_layers[0].attention.register_forward_pre_hook(lambda module, args: captured.setdefault("queries", args[0]))
    model.encoder_layers[-1].register_forward_hook(lambda module, args, output: captured.setdefault("encoded", output))
    model(**late_batch(*random_rows()))
    config = BertConfig.from_dict({**model.config.to_dict(), "is_decoder": True, "add_cross_attention": True})
    reference = type(model.late_layers[0])(config).eval()
    cross_state = {f"crossattention.{name}": tensor for name, tensor in model.cross_attention[0].state_dict().items()}
    reference.load_state_dict({**model.late_layers[0].state_dict(), **cross_state})
    reference.attention.self.is_causal = False
    expected = reference(captured["queries"], None, encoder_hidden_states=captured["encoded"])
    torch.testing.assert_close(captured["late"], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", ["self", "cross"])
def test_reload_restores_the_full_model(tmp_path, variant: str) -> None:
    model = LateMaskForMaskedLM(tiny_mlm("bert"), LateMaskConfig(late_layers=2, keep_late_layers=True, variant=variant))
    model.save_pretrained(tmp_path)
    reloaded = LateMaskForMaskedLM.from_pretrained(tmp_path).eval()
    assert reloaded.settings == model.settings
    batch = late_batch(*random_rows())
    torch.testing.assert_close(reloaded(**batch).logits, model.eval()(**batch).logits)
    exported = AutoModelForSequenceClassification.from_pretrained(tmp_path, num_labels=2, local_files_only=True)
    assert exported.config.num_hidden_layers == LAYERS  # keep_late_layers=True keeps them


def test_initialisation_leaves_the_global_rng_alone() -> None:
    mlm = tiny_mlm("bert")
    before = torch.random.get_rng_state()
    first = LateMaskForMaskedLM(mlm, LateMaskConfig(late_layers=1, variant="cross"), seed=3)
    assert torch.equal(torch.random.get_rng_state(), before)
    second = LateMaskForMaskedLM(mlm, LateMaskConfig(late_layers=1, variant="cross"), seed=3)
    torch.testing.assert_close(first.state_dict(), second.state_dict())


def test_bad_settings_fail_with_what_is_allowed() -> None:
    with pytest.raises(MlmkitError, match=r"late_layers=4 must be between 1 and num_hidden_layers=3"):
        LateMaskForMaskedLM(tiny_mlm("bert"), LateMaskConfig(late_layers=4))
    with pytest.raises(MlmkitError, match=r"variant 'decoder' is unknown; choose one of \['self', 'cross'\]"):
        LateMaskForMaskedLM(tiny_mlm("bert"), LateMaskConfig(variant="decoder"))
    with pytest.raises(MlmkitError, match=r"needs a late-mask batch"):
        LateMaskForMaskedLM(tiny_mlm("bert"))(input_ids=torch.tensor([[5, 6]]))


@pytest.mark.parametrize("variant", ["self", "cross"])
def test_target_logits_give_the_forward_loss(variant: str) -> None:
    """The trainer's path (logits at the N targets only) and `forward` agree on the loss."""
    model = LateMaskForMaskedLM(tiny_mlm("bert"), LateMaskConfig(late_layers=1, variant=variant)).eval()
    batch = late_batch(*random_rows())
    batch["labels"][0, 1] = -100
    batch["visible_labels"] = torch.full_like(batch["input_ids"], -100)
    batch["visible_labels"][1, 3] = 11
    logits, targets = model.target_logits(**batch)
    assert logits.shape == (3, 4 + 8, VOCAB) and targets.shape == (3, 4 + 8)  # 4 [MASK] slots, visible targets padded to 8
    every = torch.cat([batch["labels"], batch["visible_labels"]], dim=1)
    assert targets[targets != -100].tolist() == every[every != -100].tolist()  # the same targets, in the same order
    torch.testing.assert_close(torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten()), model(**batch).loss)


def test_saved_checkpoint_fine_tunes_in_mlmkit_glue(tmp_path, minilm_path, shared_data) -> None:
    """The exported encoder is what `mlmkit glue` fine-tunes (RTE, a few rows, one epoch)."""
    import json

    from mlmkit.cli import main
    from mlmkit.models.loading import load_tokenizer

    tokenizer = load_tokenizer(minilm_path)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64)
    LateMaskForMaskedLM(BertForMaskedLM(config), LateMaskConfig(late_layers=1)).save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    argv = [
        "glue", "--model", str(tmp_path / "model"), "--task", "rte", "--data-dir", str(shared_data / "glue"),
        "--max-train-samples", "32", "--max-eval-samples", "32", "--epochs", "1", "--out", str(tmp_path / "glue"),
    ]
    assert main(argv) == 0
    results = json.loads((tmp_path / "glue" / "results.json").read_text())
    assert 0.0 <= results["results"]["rte"]["accuracy"] <= 1.0
