"""MASS fragments and decoder tensors (papers.md §12): lengths, placement, shifting, positions, isolation."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mlmkit.collators import build_collator
from mlmkit.errors import MlmkitError
from mlmkit.masking.corruption import IGNORE_INDEX
from mlmkit.masking.mass import MassMasker, content_span, decoder_inputs, select_fragments
from mlmkit.models.loading import load_tokenizer

START, PAD = 1, 0


def _maskable(lengths: list[int], width: int, specials: bool = True) -> torch.Tensor:
    """Rows of `lengths` maskable tokens, framed by a special at each end when `specials`."""
    rows = torch.zeros(len(lengths), width, dtype=torch.bool)
    for row, length in enumerate(lengths):
        offset = 1 if specials else 0
        rows[row, offset : offset + length] = True
    return rows


def _runs(mask: torch.Tensor) -> int:
    """Number of contiguous True runs in a 1-D mask."""
    padded = torch.cat([torch.zeros(1, dtype=torch.bool), mask])
    return int((padded[1:] & ~padded[:-1]).sum())


def test_fragment_length_is_round_ratio_times_length():
    lengths = [1, 2, 3, 5, 7, 10, 11, 40]
    maskable = _maskable(lengths, 48)
    generator = torch.Generator().manual_seed(0)
    for rate in (0.5, 0.3, 0.15, 1.0):
        fragment = select_fragments(maskable, rate, generator)
        # Python's round (half to even), as MASS's round(len * word_mass); at least 1 token.
        expected = [min(length, max(1, round(rate * length))) for length in lengths]
        assert fragment.sum(dim=1).tolist() == expected
        assert all(_runs(row) == 1 for row in fragment)
        assert not (fragment & ~maskable).any()


def test_per_row_rate_tensor():
    maskable = _maskable([10, 10], 12)
    fragment = select_fragments(maskable, torch.tensor([0.2, 0.8]), torch.Generator().manual_seed(0))
    assert fragment.sum(dim=1).tolist() == [2, 8]


def test_placement_distribution_20_20_60():
    # Span of 20 tokens, k = 10: 11 admissible starts. P(first start) = P(last start) = 0.2 + 0.6/11,
    # every other start 0.6/11. Tolerance: 5 binomial standard deviations at n = 40,000 rows.
    rows, length, k = 40_000, 20, 10
    maskable = _maskable([length] * rows, length + 2)
    fragment = select_fragments(maskable, 0.5, torch.Generator().manual_seed(1234))
    starts = fragment.int().argmax(dim=1) - 1  # offset of the fragment in the span
    counts = torch.bincount(starts, minlength=length - k + 1).double()
    expected = torch.full((length - k + 1,), 0.6 / (length - k + 1), dtype=torch.float64)
    expected[0] += 0.2
    expected[-1] += 0.2
    sd = (expected * (1 - expected) / rows).sqrt()
    assert ((counts / rows - expected).abs() < 5 * sd).all(), (counts / rows, expected)


def test_placement_probs_configurable():
    maskable = _maskable([20] * 200, 22)
    generator = torch.Generator().manual_seed(0)
    at_start = select_fragments(maskable, 0.5, generator, placement_probs=(1.0, 0.0, 0.0))
    assert at_start[:, 1:11].all() and at_start.sum() == 200 * 10
    at_end = select_fragments(maskable, 0.5, generator, placement_probs=(0.0, 1.0, 0.0))
    assert at_end[:, 11:21].all() and at_end.sum() == 200 * 10


def test_block_segmented_variant_one_fragment_per_block():
    # Span of 20 tokens in blocks of 8: block lengths 8, 8, 4 -> fragments of 4, 4, 2 at rate 0.5.
    maskable = _maskable([20] * 50, 24)
    fragment = select_fragments(maskable, 0.5, torch.Generator().manual_seed(0), block_size=8)
    span = fragment[:, 1:21]
    assert span[:, 0:8].sum(dim=1).eq(4).all()
    assert span[:, 8:16].sum(dim=1).eq(4).all()
    assert span[:, 16:20].sum(dim=1).eq(2).all()
    for block in (span[:, 0:8], span[:, 8:16], span[:, 16:20]):
        assert all(_runs(row) == 1 for row in block)


def test_content_span_ignores_padding_and_empty_rows():
    maskable = torch.tensor([[False, True, False, True, False], [False] * 5])
    first, length = content_span(maskable)
    assert first.tolist() == [1, 0] and length.tolist() == [3, 0]
    assert not select_fragments(maskable[1:], 0.5, torch.Generator().manual_seed(0)).any()


def test_decoder_inputs_shift_labels_and_positions():
    input_ids = torch.arange(100, 110).expand(2, 10).clone()  # token id = 100 + position
    fragment = torch.zeros(2, 10, dtype=torch.bool)
    fragment[0, 3:7] = True  # starts mid-sequence
    fragment[1, 0:2] = True  # starts at position 0: the start token goes first
    out = decoder_inputs(input_ids, fragment, START, PAD)
    assert out["labels"].tolist() == [[103, 104, 105, 106], [100, 101, IGNORE_INDEX, IGNORE_INDEX]]
    assert out["decoder_input_ids"].tolist() == [[102, 103, 104, 105], [START, 100, PAD, PAD]]
    assert out["decoder_position_ids"].tolist() == [[3, 4, 5, 6], [0, 1, 0, 0]]
    assert out["decoder_attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]


def test_decoder_inputs_pad_to_multiple_and_empty_batch():
    input_ids = torch.arange(6).expand(1, 6).clone()
    fragment = torch.tensor([[False, True, True, True, False, False]])
    out = decoder_inputs(input_ids, fragment, START, PAD, pad_to_multiple_of=8)
    assert out["labels"].shape == (1, 8) and out["decoder_attention_mask"].sum() == 3
    empty = decoder_inputs(input_ids, torch.zeros_like(fragment), START, PAD)
    assert empty["labels"].tolist() == [[IGNORE_INDEX]]


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 30), min_size=1, max_size=6),
    rate=st.floats(0.05, 1.0),
    block_size=st.one_of(st.none(), st.integers(1, 12)),
    seed=st.integers(0, 2**31),
)
def test_decoder_sees_only_the_fragment(lengths, rate, block_size, seed):
    """Property: labels are exactly the fragment tokens in order, each decoder input is the token one
    position earlier (or the start token), positions are the label positions; nothing else reaches the decoder."""
    width = max(lengths) + 2
    maskable = _maskable(lengths, width)
    input_ids = torch.arange(1000, 1000 + width).expand(len(lengths), width).clone()  # id = 1000 + position
    fragment = select_fragments(maskable, rate, torch.Generator().manual_seed(seed), block_size=block_size)
    assert not (fragment & ~maskable).any()
    out = decoder_inputs(input_ids, fragment, START, PAD)
    for row in range(len(lengths)):
        valid = out["decoder_attention_mask"][row].bool()
        positions = fragment[row].nonzero().flatten()
        assert out["decoder_position_ids"][row][valid].tolist() == positions.tolist()
        assert out["labels"][row][valid].tolist() == (1000 + positions).tolist()
        assert (out["labels"][row][~valid] == IGNORE_INDEX).all()
        previous = out["decoder_input_ids"][row][valid]
        assert previous.tolist() == [START if p == 0 else 1000 + p - 1 for p in positions.tolist()]
        # Outside the fragment only the token just before a fragment may enter (as a decoder input).
        allowed = set((1000 + positions).tolist()) | set((999 + positions).tolist()) | {START}
        assert set(previous.tolist()) <= allowed


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    return load_tokenizer(minilm_path)


def test_build_collator_mass_defaults_and_outputs(tokenizer):
    collator = build_collator("mass", tokenizer, seed=3)
    assert collator.mlm_probability == 0.5 and collator.output == "mass"
    texts = ["the quick brown fox jumps over the lazy dog", "a short one", "hello"]
    batch = collator([tokenizer(text) for text in texts])
    assert set(batch) == {
        "input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask", "decoder_position_ids", "labels"
    }
    lengths = batch["attention_mask"].sum(dim=1) - 2  # without [CLS] and [SEP]
    expected = [max(1, round(0.5 * int(n))) for n in lengths]
    assert batch["decoder_attention_mask"].sum(dim=1).tolist() == expected
    original = torch.nn.utils.rnn.pad_sequence(
        [torch.tensor(tokenizer(t)["input_ids"]) for t in texts], batch_first=True, padding_value=tokenizer.pad_token_id
    )
    valid = batch["decoder_attention_mask"].bool()
    positions = batch["decoder_position_ids"]
    assert torch.equal(batch["labels"][valid], original.gather(1, positions)[valid])
    # The encoder input differs from the original only on the fragment.
    changed = batch["input_ids"] != original
    on_fragment = torch.zeros_like(changed).scatter_(1, positions, valid)
    assert not (changed & ~on_fragment).any()
    # Specials ([CLS], [SEP]) never enter a fragment.
    specials = torch.isin(original, torch.tensor(tokenizer.all_special_ids))
    assert not (on_fragment & specials).any()


def test_encoder_corruption_80_10_10(tokenizer):
    """80/10/10 over the fragment, within 5 binomial sd over ≥ 1e5 fragment tokens."""
    collator = build_collator("mass", tokenizer, seed=0)
    features = [{"input_ids": [101] + list(range(2000, 2126)) + [102]}] * 1600
    batch = collator(features)
    rows = torch.arange(len(features))[:, None]
    encoder_at_fragment = batch["input_ids"][rows, batch["decoder_position_ids"]]  # (B, L), all rows full
    total = encoder_at_fragment.numel()
    assert total >= 100_000
    masked = (encoder_at_fragment == tokenizer.mask_token_id).double().mean().item()
    kept = (encoder_at_fragment == batch["labels"]).double().mean().item()
    for observed, p in ((masked, 0.8), (kept, 0.1 + 0.1 / len(collator.replacement_ids))):
        assert abs(observed - p) < 5 * math.sqrt(p * (1 - p) / total)


def test_mass_collator_is_reproducible(tokenizer):
    features = [tokenizer("one two three four five six"), tokenizer("seven eight nine")]
    first = build_collator("mass", tokenizer, seed=5)(features)
    second = build_collator("mass", tokenizer, seed=5)(features)
    assert all(torch.equal(first[key], second[key]) for key in first)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"placement_probs": (0.5, 0.5, 0.5)}, "sum to"),
        ({"placement_probs": (1.0, 0.0)}, r"placement_probs=\(1\.0, 0\.0\) .*a list of 3 values"),
        ({"block_size": 0}, "positive int"),
        ({"fragment_ratio": 0.5}, "mlm_probability"),
    ],
)
def test_bad_options_say_how_to_fix(tokenizer, options, message):
    with pytest.raises(MlmkitError, match=message):
        build_collator("mass", tokenizer, **options)


def test_masker_validates_directly():
    with pytest.raises(ValueError, match="sum to"):
        MassMasker(placement_probs=(0.3, 0.3, 0.3))
