"""Hypothesis properties of every collator (STYLE §3.7): random batches, lengths, vocabularies, special
positions and seeds, checked against a plain-Python oracle."""

from __future__ import annotations

import copy

import torch
from masking_helpers import wordpiece_tokenizer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlmkit import build_collator
NAMES = ["random", "whole_word", "span"]  # strategies with their own property tests elsewhere are excluded


@st.composite
def batches(draw):
    """Features for a random vocabulary: rows of random ids with specials anywhere, optional columns."""
    num_words = draw(st.sampled_from([3, 20, 200]))
    tokenizer = wordpiece_tokenizer(num_words)
    vocab_size = len(tokenizer)
    specials = sorted(set(tokenizer.all_special_ids))
    batch_size = draw(st.integers(1, 6))
    give_word_ids = draw(st.booleans())
    give_special_mask = draw(st.booleans())
    features = []
    for _ in range(batch_size):
        length = draw(st.integers(0, 40))
        ids = draw(st.lists(st.integers(0, vocab_size - 1), min_size=length, max_size=length))
        special_mask = [int(i in specials) for i in ids]
        feature = {"input_ids": ids, "attention_mask": [1] * length}
        if give_special_mask:
            feature["special_tokens_mask"] = special_mask
        if give_word_ids:
            # Words independent of the vocabulary: runs of random length, None at specials.
            starts = draw(st.lists(st.booleans(), min_size=length, max_size=length))
            word, word_ids = -1, []
            for is_special, start in zip(special_mask, starts):
                word += int(start or word < 0)
                word_ids.append(None if is_special else word)
            feature["word_ids"] = word_ids
        features.append(feature)
    options = {
        "mlm_probability": draw(st.floats(0.01, 1.0)),
        "seed": draw(st.integers(0, 2**31)),
        "pad_to_multiple_of": draw(st.sampled_from([None, 8])),
    }
    return tokenizer, features, options


def oracle_words(tokenizer, feature: dict, maskable: list[bool]) -> list[int]:
    """Word of every position (-1 off maskable) as the collator must see it, computed in Python."""
    tokens = tokenizer.convert_ids_to_tokens(feature["input_ids"])
    given = feature.get("word_ids")
    words, word, previous = [], -1, None
    for position, ok in enumerate(maskable):
        if not ok:
            words.append(-1)
            previous = None
            continue
        key = given[position] if given is not None else None
        starts = previous is None or (key != previous if given is not None else not tokens[position].startswith("##"))
        word += int(starts)
        words.append(word)
        previous = key if given is not None else True
    return words


def check_batch(name: str, tokenizer, features: list[dict], options: dict, out: dict) -> None:
    batch_size = len(features)
    longest = max(len(f["input_ids"]) for f in features)
    multiple = options["pad_to_multiple_of"]
    width = -(-longest // multiple) * multiple if multiple else longest
    assert set(out) >= {"input_ids", "attention_mask", "labels"}
    for key in ("input_ids", "attention_mask", "labels"):
        assert out[key].shape == (batch_size, width) and out[key].dtype == torch.long
    specials = set(tokenizer.all_special_ids)
    for row, feature in enumerate(features):
        ids = feature["input_ids"]
        length = len(ids)
        maskable = [i not in specials for i in ids]
        labels = out["labels"][row].tolist()
        inputs = out["input_ids"][row].tolist()
        selected = [label != -100 for label in labels]
        assert out["attention_mask"][row].tolist() == [1] * length + [0] * (width - length)
        assert not any(selected[length:]), "padding selected"
        assert inputs[length:] == [tokenizer.pad_token_id] * (width - length)
        for position in range(length):
            if selected[position]:
                assert maskable[position], "special token selected"
                assert labels[position] == ids[position]
            else:
                assert inputs[position] == ids[position], "unselected position changed"
        count, n = sum(selected), sum(maskable)
        budget = min(max(round(options["mlm_probability"] * n), int(n > 0)), n)
        words = oracle_words(tokenizer, feature, maskable)
        if name in ("whole_word", "span"):  # whole words, overshoot < one word (span: issue 18, fault 8)
            chosen = {w for w, s in zip(words, selected) if s}
            assert all(s == (w in chosen) for w, s in zip(words, selected) if w >= 0), "word split"
            word_lengths = [words.count(w) for w in chosen]
            assert budget <= count < budget + max(word_lengths, default=1)
        else:
            assert count == budget


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(NAMES), batch=batches())
def test_collator_properties(name, batch):
    tokenizer, features, options = batch
    before = copy.deepcopy(features)
    out = build_collator(name, tokenizer, **options)(features)
    assert features == before, "features mutated"
    check_batch(name, tokenizer, features, options, out)
    again = build_collator(name, tokenizer, **options)(features)
    assert all(torch.equal(out[key], again[key]) for key in out), "same seed, different output"


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    geometric_p=st.floats(0.05, 1.0),
    bounds=st.tuples(st.integers(1, 6), st.integers(0, 6)),
    batch=batches(),
)
def test_span_units_stay_within_length_bounds(seed, geometric_p, bounds, batch):
    tokenizer, features, _ = batch
    low, extra = bounds
    collator = build_collator(
        "span", tokenizer, geometric_p=geometric_p, min_span_length=low, max_span_length=low + extra, seed=seed
    )
    selected = collator.select(features)
    unit_ids, words = selected.unit_ids, selected.word_ids
    for row in range(unit_ids.shape[0]):
        for unit in unit_ids[row][unit_ids[row] >= 0].unique().tolist():
            inside = words[row][unit_ids[row] == unit]
            assert 1 <= inside.unique().numel() <= low + extra
            assert bool((selected.maskable[row][unit_ids[row] == unit]).all())
