"""PMI-Masking collator: collocations are units, clashes resolved as the paper says, budgets, specials."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from masking_helpers import selection

from mlmkit import build_collator
from mlmkit.masking.pmi import PmiMasker
from mlmkit.masking.selection import token_budget
from mlmkit.data.words import normalize_word_ids
from mlmkit.stats.pmi import phrase_hash

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def unit_texts(tokenizer, masker, text: str, seed: int = 0) -> list[str]:
    """The units `masker` makes of `text`, as strings."""
    encoded = tokenizer([text], return_tensors="pt")
    word_ids = torch.tensor([[-1 if w is None else w for w in encoded.word_ids(0)]])
    maskable = word_ids >= 0
    units, _ = masker.units(encoded["input_ids"], maskable, normalize_word_ids(word_ids), torch.Generator().manual_seed(seed))
    groups: dict[int, list[str]] = {}
    for token, unit in zip(tokenizer.convert_ids_to_tokens(encoded["input_ids"][0]), units[0].tolist()):
        if unit >= 0:
            groups.setdefault(unit, []).append(token)
    return [" ".join(group).replace(" ##", "") for group in groups.values()]


def masker_with(tokenizer, phrases: list[str]) -> PmiMasker:
    """A PmiMasker whose vocabulary is exactly `phrases`."""
    masker = PmiMasker()
    table = [[phrase_hash(tokenizer, p) for p in phrases if len(p.split()) == n] for n in range(2, 6)]
    object.__setattr__(masker, "vocabulary", tuple(torch.tensor(sorted(t), dtype=torch.int64) for t in table))
    return masker


def test_longest_nested_entry_wins(minilm_tokenizer):
    masker = masker_with(minilm_tokenizer, ["air force", "united states", "the united states air force"])
    units = unit_texts(minilm_tokenizer, masker, "Members of the United States Air Force flew home.")
    assert units == ["members", "of", "the united states air force", "flew", "home", "."]


def test_overlapping_entries_are_resolved_at_random(minilm_tokenizer):
    masker = masker_with(minilm_tokenizer, ["new york", "york city"])
    outcomes = {tuple(unit_texts(minilm_tokenizer, masker, "in new york city today", seed)) for seed in range(40)}
    assert outcomes == {("in", "new york", "city", "today"), ("in", "new", "york city", "today")}


def test_no_unit_across_a_special_token(minilm_tokenizer):
    masker = masker_with(minilm_tokenizer, ["new york"])
    encoded = minilm_tokenizer(["he saw new", "york is big"], return_tensors="pt")
    ids = torch.cat([encoded["input_ids"][0], encoded["input_ids"][1, 1:]]).unsqueeze(0)  # [CLS] he saw new [SEP] york ...
    maskable = ~torch.isin(ids, torch.tensor(minilm_tokenizer.all_special_ids))
    word_ids = torch.where(maskable, maskable.long().cumsum(1) - 1, -1)
    units, _ = masker.units(ids, maskable, word_ids, torch.Generator().manual_seed(0))
    assert units[maskable].tolist() == list(range(int(maskable.sum())))  # every word its own unit


@pytest.fixture(scope="module")
def pmi_collator(minilm_tokenizer, informed_stats):
    return build_collator("pmi", minilm_tokenizer, stats=informed_stats("pmi"), seed=1)


def test_real_collocations_masked_jointly_far_more_than_whole_word(pmi_collator, minilm_tokenizer, wiki_features):
    pairs = [minilm_tokenizer.convert_tokens_to_ids(p.split()) for p in ("united states", "new york")]
    rows = [f for f in wiki_features if any(_find(f["input_ids"], pair) for pair in pairs)]
    assert len(rows) >= 8  # WikiText-2 valid mentions both often (each passes min_count 10 there)
    whole_word = build_collator("whole_word", minilm_tokenizer, seed=1)
    joint = {}
    for name, collator in (("pmi", pmi_collator), ("whole_word", whole_word)):
        either = both = 0
        for epoch in range(30):
            collator.set_epoch(epoch)
            labels = collator(rows)["labels"]
            for row, feature in enumerate(rows):
                for pair in pairs:
                    for at in _find(feature["input_ids"], pair):
                        masked = labels[row, at] != -100, labels[row, at + 1] != -100
                        either += bool(masked[0] or masked[1])
                        both += bool(masked[0] and masked[1])
        assert either >= 100
        joint[name] = both / either
    assert joint["pmi"] > 0.9 and joint["whole_word"] < 0.25


def _find(ids: list[int], pair: list[int]) -> list[int]:
    return [i for i in range(len(ids) - 1) if ids[i] == pair[0] and ids[i + 1] == pair[1]]


def test_budget_and_specials(pmi_collator, wiki_features, minilm_tokenizer):
    batch = pmi_collator(wiki_features[:64])
    selected, _, maskable = selection(batch, minilm_tokenizer)
    budget, count = token_budget(maskable, 0.15), selected.sum(1)
    assert (count >= budget).all() and (count - budget < 20).all()  # overshoot < one unit (at most 5 words)
    assert not (selected & ~maskable).any()


WORDS = ["new", "york", "city", "times", "the", "united", "states", "air", "force", "is", "big"]


@pytest.fixture(scope="module")
def dense_masker(minilm_tokenizer):
    """A vocabulary with many clashing entries over a small word set."""
    phrases = ["new york", "york city", "new york city", "city times", "the united", "united states", "states air",
               "air force", "the united states air force", "is big", "big new", "times the united"]
    return masker_with(minilm_tokenizer, phrases)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_units_are_whole_words_and_never_overlap(data, dense_masker, minilm_tokenizer):
    rows = data.draw(st.lists(st.lists(st.sampled_from(WORDS + ["[SEP]"]), min_size=1, max_size=30), min_size=1, max_size=4))
    encoded = minilm_tokenizer([" ".join(row) for row in rows], padding=True, return_tensors="pt")
    ids = encoded["input_ids"]
    maskable = encoded["attention_mask"].bool() & ~torch.isin(ids, torch.tensor(minilm_tokenizer.all_special_ids))
    word_ids = normalize_word_ids(torch.where(maskable, maskable.long().cumsum(1) - 1, -1))  # one piece per word here
    units, weights = dense_masker.units(ids, maskable, word_ids, torch.Generator().manual_seed(data.draw(st.integers(0, 99))))
    assert weights is None and torch.equal(units < 0, ~maskable)
    for row in range(len(rows)):
        values = units[row][maskable[row]].tolist()
        assert values == sorted(values) and (not values or set(values) == set(range(max(values) + 1)))  # 0..U-1 in order
        positions = maskable[row].nonzero().flatten().tolist()
        for unit in set(values):
            at = [p for p, u in zip(positions, values) if u == unit]
            assert at == list(range(at[0], at[-1] + 1)) and len(at) <= 5  # contiguous, never across [SEP], <= 5 words
            if len(at) > 1:
                text = minilm_tokenizer.decode(ids[row, at[0] : at[-1] + 1])
                assert hash_in(dense_masker, minilm_tokenizer, text)


def hash_in(masker, tokenizer, text: str) -> bool:
    n = len(text.split())
    return bool((masker.vocabulary[n - 2] == phrase_hash(tokenizer, text)).any())
