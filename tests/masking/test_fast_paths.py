"""The collator's fast paths (C-level packing of rows, numpy partial sorts, the span cut) give what the plain
computation gives, and reject what it rejects."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mlmkit
from mlmkit.data.words import number_runs
from mlmkit.errors import MlmkitError
from mlmkit.masking.padding import holds_only_ones, pad_feature
from mlmkit.masking.selection import _largest_first, select_units, token_budget


def _plain_padding(rows: list[list], fill: int) -> torch.Tensor:
    width = max(map(len, rows))
    return torch.tensor([[fill if value is None else int(value) for value in row] + [fill] * (width - len(row)) for row in rows])


@pytest.mark.parametrize(
    "rows",
    [
        [[1, 1, 1, 0], [1, 1]],  # a mask: every value in 0..255
        [[101, 2023, 30521, 102], [101, 7, 102]],  # ids beyond a byte
        [[-1, 0, 0, 1, -1], [-1, 5, -1]],  # word_ids as `mlmkit data prepare` writes them
        [[None, 0, 0, 1, None], [None, 300, None]],  # word_ids as a tokenizer's word_ids() gives them
        [(np.int64(3), True, 2**40, -7), (np.int32(255), 256)],  # numpy ints, bools, wide ints, tuples
    ],
)
def test_rows_pack_to_what_a_plain_loop_pads(rows):
    features = [{"column": row} for row in rows]
    padded, inside, lengths = pad_feature(features, "column", -1)
    assert torch.equal(padded, _plain_padding([list(row) for row in rows], -1))
    assert lengths.tolist() == [len(row) for row in rows]
    assert inside.sum(dim=1).tolist() == lengths.tolist()
    padded[0, 0] = 9  # the tensor owns writable memory (the collator corrupts ids in place)


@pytest.mark.parametrize("bad, shown", [(7.0, r"holds 7\.0 \(float\)"), (2**64, r"holds 18446744073709551616 \(int\)")])
@pytest.mark.parametrize("column", ["input_ids", "word_ids"])
def test_a_float_or_too_wide_int_inside_a_row_is_an_error(bad, shown, column, minilm_tokenizer):
    """A float in the middle of a row used to be truncated to an int without a word (np.fromiter casts)."""
    encoded = minilm_tokenizer("The capital of France is Paris.")

    def feature() -> dict[str, list]:
        return {"input_ids": list(encoded["input_ids"]), "word_ids": [-1 if w is None else w for w in encoded.word_ids()]}

    bad_feature = feature()
    bad_feature[column][3] = bad
    collator = mlmkit.build_collator("whole_word", minilm_tokenizer)
    with pytest.raises(MlmkitError, match=rf"feature 1: '{column}' {shown}; values must be 64-bit ints"):
        collator([feature(), bad_feature])


def _collate_as_lists(collator, features: list[dict]) -> dict[str, torch.Tensor]:
    plain = [{key: np.asarray(value).reshape(-1).tolist() for key, value in feature.items()} for feature in features]
    return collator(plain)


@pytest.mark.parametrize(
    "features",
    [
        # A one-token tokenizer output, (1, 1) tensors, beside a list row padded before collation.
        lambda tok: [{"input_ids": [7592, 2088, 0], "attention_mask": [1, 1, 0]}, dict(tok("hello", add_special_tokens=False, return_tensors="pt"))],
        lambda tok: [{"input_ids": [101, 7592, 102, 2088, 1010, 2023, 3231, 102], "token_type_ids": [0, 0, 0, 1, 1, 1, 1, 1]},
                     {"input_ids": [101, 102], "token_type_ids": np.array([0, 1], np.int32)}],
        lambda tok: [{"input_ids": [101] + [100] * 6 + [102]}, {"input_ids": np.array([101, 102], np.int32)}],
        lambda tok: [{"input_ids": [101, 102]}, {"input_ids": np.array([101, 7592, 2088, 1010, 2023, 102])}],
        lambda tok: [{"input_ids": torch.tensor([101, 7592, 102]), "word_ids": np.array([-1, 0, -1])},
                     {"input_ids": [101, 2088, 1010, 102], "word_ids": [None, 0, 1, None]}],
    ],
)
def test_rows_of_mixed_kinds_in_one_batch_read_as_their_lists(features, minilm_tokenizer):
    """List rows beside array or tensor rows were packed as raw bytes (an int64 array as 8 values each, a
    one-element tensor as n zero bytes): tokens became padding, token types moved, or numpy raised."""
    batch = features(minilm_tokenizer)
    collator = mlmkit.build_collator("whole_word", minilm_tokenizer, mlm_probability=1.0, mask_replace_prob=1.0, random_replace_prob=0.0)
    collator.set_epoch(0)
    mixed, plain = collator(batch), _collate_as_lists(collator, batch)
    for key in plain:
        assert torch.equal(mixed[key], plain[key]), key


@pytest.mark.parametrize(
    "second, message",
    [
        ([101, 2460, 2088.7, 102], r"feature 1: 'input_ids' holds 2088\.7 \(float\)"),
        ([101, 2460, None, 102], r"feature 1: 'input_ids' holds None"),
        (np.array([2**64 - 1], dtype=np.uint64), r"feature 1: 'input_ids' holds 18446744073709551615"),
        (torch.tensor([101, 102], dtype=torch.complex64), r"feature 1: 'input_ids' has dtype torch.complex64"),
    ],
)
def test_a_bad_row_after_a_tensor_row_is_named(second, message, minilm_tokenizer):
    """With an array or tensor first, list rows went through np.asarray: 2088.7 became 2088, None a TypeError."""
    collator = mlmkit.build_collator("random", minilm_tokenizer)
    with pytest.raises(MlmkitError, match=message):
        collator([{"input_ids": torch.tensor([101, 7592, 102])}, {"input_ids": second}])


def test_numpy_bools_in_a_list_are_read_as_ints(minilm_tokenizer):
    collator = mlmkit.build_collator("random", minilm_tokenizer, seed=0)
    collator.set_epoch(0)
    ids = [101, 7592, 2088, 102]
    as_numpy = collator([{"input_ids": ids, "special_tokens_mask": list(np.array([1, 0, 0, 1], dtype=bool))}])
    as_ints = collator([{"input_ids": ids, "special_tokens_mask": [1, 0, 0, 1]}])
    assert torch.equal(as_numpy["labels"], as_ints["labels"])


@pytest.mark.parametrize("other_row", [[1, 1, 1], [1, 1, 0]])
def test_an_attention_mask_holds_only_0_and_1_whatever_the_other_rows_hold(other_row, minilm_tokenizer):
    """A 2 in a mask was kept or dropped depending on whether another row held a 0."""
    collator = mlmkit.build_collator("random", minilm_tokenizer)
    features = [{"input_ids": [101, 7592, 2088, 1010, 2023, 102], "attention_mask": [1, 2, 2, 2, 2, 1]},
                {"input_ids": [101, 7592, 102], "attention_mask": other_row}]
    with pytest.raises(MlmkitError, match=r"feature 0: 'attention_mask' holds 2 at position 1; a mask holds 0 \(padding\) or 1"):
        collator(features)
    features[0]["attention_mask"] = [1, 1, 1, 1, -1, 1]
    with pytest.raises(MlmkitError, match=r"feature 0: 'attention_mask' holds -1 at position 4"):
        collator(features)


@pytest.mark.parametrize("column", ["attention_mask", "input_ids"])
def test_a_column_missing_from_a_later_feature_is_named(column, minilm_tokenizer):
    """A KeyError traceback for attention_mask and input_ids (other columns already had a clear error)."""
    collator = mlmkit.build_collator("random", minilm_tokenizer)
    features = [{"input_ids": [101, 7592, 102], "attention_mask": [1, 1, 1]}, {"input_ids": [101, 102], "attention_mask": [1, 1]}]
    del features[1][column]
    with pytest.raises(MlmkitError, match=rf"feature 1 has no '{column}'"):
        collator(features)


@pytest.mark.parametrize("name", ["random", "span", "mass"])
def test_a_batch_of_empty_rows_collates_to_empty_rows(name, minilm_tokenizer):
    out = mlmkit.build_collator(name, minilm_tokenizer)([{"input_ids": []}, {"input_ids": []}])
    assert out["input_ids"].shape == (2, 0) and bool((out["labels"] == -100).all())


def test_holds_only_ones_is_true_for_plain_rows_of_ones_only():
    lengths = np.array([3, 2])
    assert holds_only_ones([{"m": [1, 1, 1]}, {"m": (1, 1)}], "m", lengths)
    for other in ([1, 0], [1, 2], [1, -1], [None, 1], np.array([1, 1]), [1.0, 1]):
        assert not holds_only_ones([{"m": [1, 1, 1]}, {"m": other}], "m", lengths), other
    assert not holds_only_ones([{"m": [1, 1, 1]}, {}], "m", lengths)
    with pytest.raises(MlmkitError, match="feature 1: column 'm' has 3 values but input_ids has 2"):
        holds_only_ones([{"m": [1, 1, 1]}, {"m": [1, 1, 1]}], "m", lengths)


@pytest.mark.parametrize("shape", [(64, 128), (4, 4096), (3, 5)])
def test_largest_first_is_topk_in_order(shape):
    generator = torch.Generator().manual_seed(0)
    keys = torch.rand(shape, generator=generator)
    keys[torch.rand(shape, generator=generator) < 0.2] = -torch.inf  # units that do not exist
    for k in sorted({1, 2, shape[1] // 3, shape[1] - 1, shape[1]} - {0}):
        expected = keys.topk(k, dim=1).values
        assert torch.equal(keys.gather(1, _largest_first(keys, k)), expected), k


def _random_words_and_spans(rows: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Word ids and span unit ids (B, T) of random rows: maskable runs cut by specials, words of 1-4 tokens,
    spans of 1-3 whole words (what `SpanMasker.units` gives the selection)."""
    generator = torch.Generator().manual_seed(seed)
    maskable = torch.rand(rows, length, generator=generator) > 0.08
    word_start = torch.rand(rows, length, generator=generator) < 0.4
    word_ids = number_runs(maskable, word_start)
    span_start_word = torch.rand(rows, length + 1, generator=generator) < 0.45
    first_piece = torch.ones_like(maskable)
    first_piece[:, 1:] = word_ids[:, 1:] != word_ids[:, :-1]
    starts_span = first_piece & span_start_word.gather(1, word_ids.clamp(min=0))
    return word_ids, number_runs(maskable, starts_span)


@pytest.mark.parametrize("rate", [0.15, 0.4, 0.9])
def test_the_span_crossing_the_budget_is_cut_after_the_word_that_reaches_it(rate):
    """Cutting at words keeps the units the uncut selection takes, whole except at most one: the one that
    crosses the budget keeps its fewest leading whole words that reach the budget."""
    word_ids, unit_ids = _random_words_and_spans(400, 60, seed=1)
    budget = token_budget(unit_ids >= 0, rate)
    whole = select_units(unit_ids, budget, torch.Generator().manual_seed(5))
    cut = select_units(unit_ids, budget, torch.Generator().manual_seed(5), truncate_at_words=word_ids)
    assert not (cut & ~whole).any()
    rows_cut = 0
    for row in range(word_ids.shape[0]):
        words, units, kept = word_ids[row], unit_ids[row], cut[row]
        assert set(units[kept].tolist()) == set(units[whole[row]].tolist())
        for word in words[kept].unique().tolist():
            assert bool(kept[words == word].all()), "a word is kept whole"
        shortened = units[whole[row] & ~kept].unique()
        assert shortened.numel() <= 1
        count, goal = int(kept.sum()), int(budget[row])
        assert count >= goal
        if shortened.numel():
            rows_cut += 1
            positions = (units == shortened[0]).nonzero().flatten()
            taken = kept[positions]
            assert bool(taken[: int(taken.sum())].all()), "the kept words lead the span"
            last_word = int(words[positions][taken].max())
            assert count - int((words == last_word).sum()) < goal, "every kept word was needed"
    assert rows_cut > 50  # the cut is exercised
