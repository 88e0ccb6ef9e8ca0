"""Late-mask collator output: a lossless re-layout of the in-place MLM batch that the 3ML model consumes."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from mlmkit.collators import build_collator
from mlmkit.masking.late_mask_output import to_late_mask
from mlmkit.config import LateMaskConfig
from mlmkit.models.late_mask import LateMaskForMaskedLM
from mlmkit.models.loading import load_tokenizer

TEXT = (
    "The quick brown fox jumps over the lazy dog while the unbelievable philharmonic orchestra plays "
    "Tchaikovsky's symphony, and nobody in the crowded auditorium notices the thunderstorm outside. "
)


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    return load_tokenizer(minilm_path)


def packed_rows(tokenizer, rows: int = 6, length: int = 40) -> list[dict[str, list[int]]]:
    """Equal-length rows [CLS] text [SEP], as `mlmkit data prepare` packs them."""
    ids = tokenizer(TEXT * 8, add_special_tokens=False)["input_ids"]
    body = length - 2
    return [{"input_ids": [tokenizer.cls_token_id, *ids[i * body : (i + 1) * body], tokenizer.sep_token_id]} for i in range(rows)]


def rebuild(batch: dict[str, torch.Tensor], length: int, mask_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Scatter a late-mask batch back to full-length (input_ids, labels) as the in-place MLM output has them."""
    rows = batch["input_ids"].shape[0]
    ids = torch.full((rows, length + 1), -7)
    labels = torch.full((rows, length + 1), -100)
    slots = batch["positions"].masked_fill(batch["positions"] < 0, length)
    masks = batch["masked_positions"].masked_fill(batch["masked_positions"] < 0, length)
    ids.scatter_(1, slots, batch["input_ids"])
    ids.scatter_(1, masks, torch.full_like(masks, mask_token_id))
    labels.scatter_(1, slots, batch["visible_labels"])
    labels.scatter_(1, masks, batch["labels"])
    return ids[:, :length], labels[:, :length]


@pytest.mark.parametrize("name", ["random", "whole_word", "span"])
@pytest.mark.parametrize(("mask_replace_prob", "exact"), [(1.0, False), (0.8, False), (0.8, True)])
def test_late_mask_output_is_the_mlm_batch_relaid(tokenizer, name: str, mask_replace_prob: float, exact: bool) -> None:
    """Same seed, same selection and 80/10/10: scattering the late-mask batch back gives the MLM batch."""
    features = packed_rows(tokenizer)
    options = dict(
        mlm_probability=0.5, mask_replace_prob=mask_replace_prob, random_replace_prob=(1 - mask_replace_prob) / 2,
        exact_replacement=exact, seed=3,
    )
    standard = build_collator(name, tokenizer, **options)(features)
    late = build_collator(name, tokenizer, output="late_mask", **options)(features)
    ids, labels = rebuild(late, standard["input_ids"].shape[1], tokenizer.mask_token_id)
    assert torch.equal(ids, standard["input_ids"])
    assert torch.equal(labels, standard["labels"])
    assert not (late["input_ids"] == tokenizer.mask_token_id).any()  # no placeholder reaches the encoder
    for key in ("positions", "masked_positions"):  # slots in row order, padding (-1) at the end
        valid = late[key].where(late[key] >= 0, 10**6)
        assert torch.equal(valid, valid.sort(dim=1).values)


def test_fixed_budget_on_packed_rows_needs_no_padding(tokenizer) -> None:
    """3ML's set-up: equal-length rows, exact budget, [MASK] only -> every row has T−k encoder tokens."""
    features = packed_rows(tokenizer, length=40)
    batch = build_collator("random", tokenizer, output="late_mask", mlm_probability=0.5, mask_replace_prob=1.0, random_replace_prob=0.0)(
        features
    )
    assert batch["masked_positions"].shape == (6, 19)  # round(0.5 × 38 maskable)
    assert batch["input_ids"].shape == (6, 21)
    assert bool(batch["attention_mask"].all()) and bool((batch["masked_positions"] >= 0).all())
    assert bool((batch["visible_labels"] == -100).all())


def test_exact_80_10_10_on_packed_rows_needs_no_padding(tokenizer) -> None:
    """With exact_replacement every row turns round(0.8 k) of its k selected tokens into late [MASK]s;
    the random and kept ones stay in the encoder as visible targets."""
    features = packed_rows(tokenizer, length=40)
    batch = build_collator("random", tokenizer, output="late_mask", mlm_probability=0.5, exact_replacement=True, seed=1)(features)
    assert batch["masked_positions"].shape == (6, 15)  # round(0.8 × 19): 19 = round(0.5 × 38 maskable)
    assert batch["input_ids"].shape == (6, 25)  # 40 − 15
    assert bool(batch["attention_mask"].all()) and bool((batch["masked_positions"] >= 0).all())
    assert (batch["visible_labels"] != -100).sum(dim=1).tolist() == [4] * 6  # 2 random + 2 kept per row


def test_rows_of_different_lengths_are_padded(tokenizer) -> None:
    features = packed_rows(tokenizer, rows=2, length=40)
    features[1]["input_ids"] = features[1]["input_ids"][:20] + [tokenizer.sep_token_id]
    batch = build_collator("random", tokenizer, output="late_mask", mlm_probability=0.5, mask_replace_prob=1.0, random_replace_prob=0.0)(
        features
    )
    assert batch["attention_mask"].sum(dim=1).tolist() == [21, 11]
    assert (batch["masked_positions"] >= 0).sum(dim=1).tolist() == [19, 10]
    assert bool((batch["input_ids"][1, 11:] == tokenizer.pad_token_id).all())
    assert bool((batch["labels"][1, 10:] == -100).all())
    assert not (batch["positions"][1] >= 21).any()  # the row's padding never becomes an encoder token


def test_token_types_follow_their_tokens() -> None:
    ids = torch.tensor([[2, 9, 4, 9, 3, 0]])
    labels = torch.tensor([[-100, -100, 8, 9, -100, -100]])  # 9 at slot 3 was selected and kept
    types = torch.tensor([[0, 0, 0, 1, 1, 0]])
    batch = to_late_mask(ids, labels, torch.tensor([[1, 1, 1, 1, 1, 0]]), 4, 0, token_type_ids=types)
    assert batch["positions"].tolist() == [[0, 1, 3, 4]]
    assert batch["visible_labels"].tolist() == [[-100, -100, 9, -100]]
    assert batch["masked_positions"].tolist() == [[2]] and batch["labels"].tolist() == [[8]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 1, 1]] and batch["masked_token_type_ids"].tolist() == [[0]]


def test_collated_batch_trains_the_model_like_the_standard_one(tokenizer) -> None:
    """End to end: with all layers late, the late-mask batch gives the standard model's loss."""
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    torch.manual_seed(0)
    standard = BertForMaskedLM(config).eval()
    model = LateMaskForMaskedLM(standard, LateMaskConfig(late_layers=2), mask_token_id=tokenizer.mask_token_id).eval()
    features = packed_rows(tokenizer, rows=3)
    options = dict(mlm_probability=0.4, seed=5)
    expected = standard(**build_collator("span", tokenizer, **options)(features)).loss
    actual = model(**build_collator("span", tokenizer, output="late_mask", **options)(features)).loss
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
