"""Seeded statistical tests on real WikiText with the real MiniLM WordPiece vocabulary.

Tolerances come from the binomial sd of the quantity measured (4 sd: a failure means a bug, not a seed).
"""

from __future__ import annotations

import math

import pytest
import torch

from mlmkit import build_collator
from mlmkit.masking import SpanMasker, select_units, token_budget
from mlmkit.masking.units import unit_lengths


def collate_all(collator, features, batch_size=64):
    return [collator(features[i : i + batch_size]) for i in range(0, len(features), batch_size)]


@pytest.mark.parametrize("name", ["random", "whole_word", "span"])
@pytest.mark.parametrize("rate", [0.15, 0.4, 0.8])
def test_realised_rate_matches_target(name, rate, minilm_tokenizer, wiki_features):
    """Per row the count is the budget (exact for random; whole_word and span overshoot by < one word),
    so over all rows the realised rate is the target within rounding (0.5/n per row) plus overshoot."""
    specials = torch.tensor(minilm_tokenizer.all_special_ids)
    selected = maskable = overshoot_bound = 0
    for batch in collate_all(build_collator(name, minilm_tokenizer, mlm_probability=rate, seed=3), wiki_features):
        original = torch.where(batch["labels"] != -100, batch["labels"], batch["input_ids"])
        row_maskable = (batch["attention_mask"].bool() & ~torch.isin(original, specials)).sum(1)
        row_selected = (batch["labels"] != -100).sum(1)
        budget = token_budget(torch.arange(row_maskable.max())[None] < row_maskable[:, None], rate)
        if name in ("whole_word", "span"):
            assert bool(((row_selected >= budget) & (row_selected < budget + 20)).all())
            overshoot_bound += int((row_selected - budget).sum())
        else:
            assert torch.equal(row_selected, budget)
        selected += int(row_selected.sum())
        maskable += int(row_maskable.sum())
    rows = len(wiki_features)
    rounding = 0.5 * rows / maskable
    realised = selected / maskable
    # Whole words: the mean overshoot is about half a word's extra pieces; bound it by what we observed
    # and require it small (< 1 token per row on average), so the rate stays within a binomial-sized band.
    assert overshoot_bound <= rows
    sd = math.sqrt(rate * (1 - rate) / maskable)
    assert abs(realised - rate) <= rounding + overshoot_bound / maskable + 4 * sd


# Tokens to collect: >= 100k, more where the draw is per unit (spans of ~5 tokens share one draw), so
# that 1 point is >= 5 sd of the share: sd² ≈ p(1-p)·E[L²] / (N·E[L]) for units of L tokens.
@pytest.mark.parametrize(("name", "needed"), [("random", 100_000), ("whole_word", 150_000), ("span", 400_000)])
def test_corruption_ratios_are_80_10_10(name, needed, minilm_tokenizer, wiki_features):
    """80% [MASK], 10% random, 10% kept, each within 1 point, over >= 100k predicted tokens."""
    collator = build_collator(name, minilm_tokenizer, mlm_probability=0.5, seed=11)
    counts = torch.zeros(3, dtype=torch.long)
    total = 0
    while total < needed:
        for batch in collate_all(collator, wiki_features, batch_size=200):
            picked = batch["labels"] != -100
            shown, original = batch["input_ids"][picked], batch["labels"][picked]
            is_mask = shown == minilm_tokenizer.mask_token_id
            kept = shown == original
            counts += torch.stack([is_mask.sum(), (~is_mask & ~kept).sum(), kept.sum()])
            total += int(picked.sum())
    shares = counts.double() / total
    assert torch.allclose(shares, torch.tensor([0.8, 0.1, 0.1], dtype=torch.float64), atol=0.01), shares


def test_random_replacements_avoid_specials_and_unused(minilm_tokenizer, wiki_features):
    collator = build_collator("random", minilm_tokenizer, mlm_probability=0.5, mask_replace_prob=0.0, random_replace_prob=1.0)
    batch = collator(wiki_features[:200])
    replaced = batch["input_ids"][batch["labels"] != -100]
    tokens = minilm_tokenizer.convert_ids_to_tokens(replaced.tolist())
    assert not set(replaced.tolist()) & set(minilm_tokenizer.all_special_ids)
    assert not any(token.startswith("[unused") for token in tokens)


@pytest.mark.parametrize("given_word_ids", [True, False])
def test_whole_words_all_or_nothing_on_real_vocab(given_word_ids, minilm_tokenizer, wiki_features):
    """Every WordPiece word ("x ##y ##z") is selected whole or not at all, with per-word 80/10/10."""
    features = wiki_features if given_word_ids else [{"input_ids": f["input_ids"]} for f in wiki_features]
    collator = build_collator("whole_word", minilm_tokenizer, mlm_probability=0.3, seed=5)
    checked = 0
    for batch, start in zip(collate_all(collator, features), range(0, len(features), 64)):
        for row in range(batch["labels"].shape[0]):
            tokens = minilm_tokenizer.convert_ids_to_tokens(features[start + row]["input_ids"])
            picked = (batch["labels"][row] != -100).tolist()
            shown = batch["input_ids"][row].tolist()
            mask_id = minilm_tokenizer.mask_token_id
            for position, token in enumerate(tokens):
                if token.startswith("##"):
                    assert picked[position] == picked[position - 1]
                    if picked[position]:
                        assert (shown[position] == mask_id) == (shown[position - 1] == mask_id)
                        checked += 1
    assert checked > 500


def test_span_lengths_follow_truncated_geometric():
    """Spans are cut from words with P(l) ∝ p(1-p)^(l-1), l in [1, 10]; chosen spans keep that law."""
    p, longest = 0.2, 10
    weights = [p * (1 - p) ** (length - 1) for length in range(1, longest + 1)]
    exact_mean = sum(length * w for length, w in zip(range(1, longest + 1), weights)) / sum(weights)
    generator = torch.Generator().manual_seed(7)
    batch_size, num_words = 16, 2048
    word_ids = torch.arange(num_words).repeat(batch_size, 1)  # one token per word, no specials
    maskable = torch.ones_like(word_ids, dtype=torch.bool)
    unit_ids, _ = SpanMasker(geometric_p=p, max_span_length=longest).units(word_ids, maskable, word_ids, generator)
    lengths = unit_lengths(unit_ids)[:, 1:-1]  # drop the row's first and last span (cut by the row ends)
    lengths = lengths[lengths > 0].double()
    assert lengths.max() <= longest and lengths.min() >= 1
    assert abs(lengths.mean().item() - exact_mean) < 0.2
    # Uniform selection without replacement keeps the length law for chosen spans (all but the truncated one).
    budget = token_budget(maskable, 0.15)
    selected = select_units(unit_ids, budget, generator, truncate_at_words=word_ids)
    chosen_units = unit_ids[selected].unique()
    chosen = unit_lengths(unit_ids)[0].index_select(0, chosen_units[chosen_units < unit_ids[0].max()])
    assert abs(chosen.double().mean().item() - exact_mean) < 0.2


@pytest.mark.parametrize("rate", [0.15, 0.4])
def test_span_masks_whole_words_and_overshoots_by_less_than_one_word(rate, minilm_tokenizer, wiki_features):
    """Issue 18, fault 8: the span crossing the budget was cut inside a word ("[Thrace san]g" at rate 0.4).
    Every masked word is now masked entirely, and a row's count exceeds its budget by less than one word."""
    collator = build_collator("span", minilm_tokenizer, mlm_probability=rate, seed=4)
    partial = over = 0
    for start in range(0, len(wiki_features), 50):
        features = wiki_features[start : start + 50]
        batch = collator.select(features)
        words, selected = batch.word_ids, batch.selected
        for row in range(selected.shape[0]):
            picked = words[row][selected[row]].unique()
            sizes = torch.bincount(words[row][words[row] >= 0])
            masked = torch.bincount(words[row][selected[row]], minlength=sizes.numel())
            partial += int(((masked > 0) & (masked < sizes)).sum())
            budget = int(token_budget(batch.maskable[row : row + 1], rate))
            count = int(selected[row].sum())
            assert budget <= count < budget + int(sizes.max()), (count, budget)
            over += count - budget
            assert picked.numel() > 0
    assert partial == 0
    assert over > 0  # words longer than one piece do cross the budget: the bound above is exercised


def test_whole_word_per_piece_corruption_option(minilm_tokenizer, wiki_features):
    """corrupt_per_unit=False is Google's per-piece 80/10/10: some masked words get mixed treatment."""
    collator = build_collator("whole_word", minilm_tokenizer, mlm_probability=0.5, corrupt_per_unit=False, seed=2)
    batch = collator(wiki_features[:200])
    mixed = 0
    for row in range(batch["labels"].shape[0]):
        words = wiki_features[row]["word_ids"]
        is_mask = (batch["input_ids"][row] == minilm_tokenizer.mask_token_id).tolist()
        picked = (batch["labels"][row] != -100).tolist()
        for position in range(1, len(words)):
            same_word = words[position] == words[position - 1] >= 0
            if same_word and picked[position] and is_mask[position] != is_mask[position - 1]:
                mixed += 1
    assert mixed > 50  # per word this count is 0 (test above); per piece about 2·0.8·0.2 of masked piece pairs


def half_down(values: torch.Tensor) -> torch.Tensor:
    """round(x) with halves rounded down, the rule of exact replacement counts."""
    return torch.ceil(values - 0.5).long()


@pytest.mark.parametrize("name", ["random", "whole_word"])
def test_exact_replacement_gives_every_row_its_exact_split(name, minilm_tokenizer, wiki_features):
    """exact_replacement=True: each row has exactly round(0.8 k) [MASK] units and round(0.9 k) changed
    ones of its k selected units (tokens for random, words for whole_word)."""
    features = wiki_features[:300]
    batch = build_collator(name, minilm_tokenizer, mlm_probability=0.5, exact_replacement=True, seed=4)(features)
    for row, feature in enumerate(features):
        length = len(feature["input_ids"])  # rows differ in length: drop the row's padding
        shown, original = batch["input_ids"][row, :length], batch["labels"][row, :length]
        picked = original != -100
        is_mask = picked & (shown == minilm_tokenizer.mask_token_id)
        changed = picked & ~is_mask & (shown != original)
        units = torch.arange(picked.numel()) if name == "random" else torch.tensor(feature["word_ids"])
        selected_units = units[picked].unique().numel()
        mask_units = units[is_mask].unique().numel()
        assert mask_units == int(half_down(torch.tensor(0.8 * selected_units)))
        random_units = int(half_down(torch.tensor(0.9 * selected_units))) - mask_units
        # A random id equal to the original (p ~ 1/30k per draw) looks kept: allow one per row.
        assert random_units - 1 <= units[changed].unique().numel() <= random_units
