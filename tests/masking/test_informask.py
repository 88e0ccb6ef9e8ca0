"""InforMask collator: informative tokens masked more, stop-words less; exact, Bernoulli and sample-and-score modes."""

from __future__ import annotations

import math

import pytest
import torch

from masking_helpers import rare_content_ids, selection

from mlmkit import build_collator
from mlmkit.errors import MlmkitError
from mlmkit.masking.selection import token_budget
from mlmkit.stats.artifact import load_stats

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STOP_WORDS = ["the", "of", ","]


@pytest.fixture(scope="module")
def stats_path(informed_stats):
    return informed_stats("informask")


@pytest.fixture(scope="module")
def random_counts(minilm_tokenizer, wiki_features, mask_counts):
    return mask_counts(build_collator("random", minilm_tokenizer, seed=3), wiki_features, passes=2)


@pytest.mark.parametrize("mode", ["exact", "bernoulli", "sample_and_score"])
def test_stop_words_less_rare_content_words_more_than_random(mode, stats_path, minilm_tokenizer, wiki_features, mask_counts, random_counts):
    counts = mask_counts(build_collator("informask", minilm_tokenizer, stats=stats_path, mode=mode, seed=3), wiki_features, passes=2)
    unigram_counts = load_stats(stats_path, minilm_tokenizer, "informask").tensors["unigram_counts"]
    rare = rare_content_ids(minilm_tokenizer, unigram_counts, low=2, high=20)
    stop = minilm_tokenizer.convert_tokens_to_ids(STOP_WORDS)
    # The three stop-words occur ~36,000 times in two passes: the binomial sd of a share is < 0.002.
    if mode == "sample_and_score":  # the best of 10 uniform masks: a milder tilt, towards tokens with reliable
        # high-PMI pairs (the stored table drops pairs seen < 3 times, so a rare word gains little)
        assert counts.share(stop) < 0.9 * random_counts.share(stop)
        return
    assert counts.share(stop) < 0.6 * random_counts.share(stop)
    assert counts.share(rare) > 1.5 * random_counts.share(rare)


def test_exact_mode_meets_the_budget_and_never_masks_specials(stats_path, minilm_tokenizer, wiki_features):
    for mode in ("exact", "sample_and_score"):
        batch = build_collator("informask", minilm_tokenizer, stats=stats_path, mode=mode, mlm_probability=0.2)(wiki_features[:64])
        selected, _, maskable = selection(batch, minilm_tokenizer)
        assert torch.equal(selected.sum(1), token_budget(maskable, 0.2)) and not (selected & ~maskable).any()


def test_bernoulli_mode_expected_rate(stats_path, minilm_tokenizer, wiki_features):
    rates = load_stats(stats_path, minilm_tokenizer, "informask").tensors["rates"].double()
    collator = build_collator("informask", minilm_tokenizer, stats=stats_path, mode="bernoulli", mlm_probability=0.3)
    batch = collator(wiki_features)
    selected, original, maskable = selection(batch, minilm_tokenizer)
    probability = (rates[original[maskable]] * 0.3 / 0.15).clamp(max=1.0)  # rescaled to the collator's rate
    expected, sd = probability.sum().item(), math.sqrt((probability * (1 - probability)).sum().item())
    assert abs(selected.sum().item() - expected) < 4 * sd and not (selected & ~maskable).any()
    assert not torch.equal(selected.sum(1), token_budget(maskable, 0.3))  # a count per row that varies


def test_sample_and_score_keeps_more_relevant_masks(stats_path, minilm_tokenizer, wiki_features):
    scored = build_collator("informask", minilm_tokenizer, stats=stats_path, mode="sample_and_score", seed=5)
    uniform = build_collator("informask", minilm_tokenizer, stats=stats_path, mode="sample_and_score", candidates=1, seed=5)
    masker = scored.masker
    values = {}
    for name, collator in (("best_of_10", scored), ("one", uniform)):
        batch = collator(wiki_features)
        selected = batch["labels"] != -100
        original = torch.where(selected, batch["labels"], batch["input_ids"])
        pmi = masker.neighbour_pmi(original, batch["attention_mask"].bool())
        relevance = sum((pmi[:, :-d, d - 1] * (selected[:, :-d] != selected[:, d:])).sum(1) for d in range(1, masker.window + 1))
        values[name] = relevance
    difference = values["best_of_10"] - values["one"]
    assert difference.mean() > 5 * difference.std() / math.sqrt(len(difference))


def test_unknown_mode_is_refused(stats_path, minilm_tokenizer):
    with pytest.raises(MlmkitError, match=r"mode='greedy' is not known; choose one of \('exact', 'bernoulli', 'sample_and_score'\)"):
        build_collator("informask", minilm_tokenizer, stats=stats_path, mode="greedy")
