"""ROM collator: term-important tokens masked more, stop-words less; uniform mix; exact budget; specials."""

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
    return informed_stats("rom")


@pytest.fixture(scope="module")
def random_counts(minilm_tokenizer, wiki_features, mask_counts):
    return mask_counts(build_collator("random", minilm_tokenizer, seed=4), wiki_features, passes=2)


@pytest.mark.parametrize("weighting", ["idf", "bm25"])
def test_stop_words_less_rare_content_words_more_than_random(weighting, stats_path, minilm_tokenizer, wiki_features, mask_counts, random_counts):
    collator = build_collator("rom", minilm_tokenizer, stats=stats_path, weighting=weighting, seed=4)
    counts = mask_counts(collator, wiki_features, passes=2)
    frequency = load_stats(stats_path, minilm_tokenizer, "rom").tensors["document_frequency"]
    rare = rare_content_ids(minilm_tokenizer, frequency, low=1, high=10)
    stop = minilm_tokenizer.convert_tokens_to_ids(STOP_WORDS)
    # ~36,000 stop-word and > 1,000 rare occurrences over two passes: binomial sds are < 0.01, far below the gaps.
    assert counts.share(stop) < 0.6 * random_counts.share(stop)
    assert counts.share(rare) > 1.5 * random_counts.share(rare)


def test_mix_ratio_one_is_random_masking(stats_path, minilm_tokenizer, wiki_features, mask_counts, random_counts):
    counts = mask_counts(build_collator("rom", minilm_tokenizer, stats=stats_path, mix_ratio=1.0, seed=9), wiki_features, passes=2)
    stop = minilm_tokenizer.convert_tokens_to_ids(STOP_WORDS)
    p, n = random_counts.share(stop), counts.seen[stop].sum().item()
    assert abs(counts.share(stop) - p) < 4 * math.sqrt(2 * p * (1 - p) / n)  # two independent binomial shares


def test_exact_budget_and_specials(stats_path, minilm_tokenizer, wiki_features):
    for weighting in ("idf", "bm25"):
        collator = build_collator("rom", minilm_tokenizer, stats=stats_path, weighting=weighting, mlm_probability=0.3)
        batch = collator(wiki_features[:64])
        selected, _, maskable = selection(batch, minilm_tokenizer)
        assert torch.equal(selected.sum(1), token_budget(maskable, 0.3)) and not (selected & ~maskable).any()


def test_bm25_saturates_repeated_terms(stats_path, minilm_tokenizer):
    masker = build_collator("rom", minilm_tokenizer, stats=stats_path, weighting="bm25").masker
    ids = torch.tensor([minilm_tokenizer.convert_tokens_to_ids(["lobster", "lobster", "lobster", "claws", "red"])])
    weights = masker.term_weights(ids, torch.ones_like(ids, dtype=torch.bool))[0]
    idf = masker.idf[ids[0]]
    assert weights[0] / idf[0] > weights[3] / idf[3]  # tf 3 > tf 1 ...
    assert weights[0] / idf[0] < 3 * weights[3] / idf[3]  # ... but less than 3x (k1 saturation)


def test_bad_options_are_refused(stats_path, minilm_tokenizer, informed_stats):
    with pytest.raises(MlmkitError, match=r"weighting='tfidf' is not known; choose one of \('idf', 'bm25'\)"):
        build_collator("rom", minilm_tokenizer, stats=stats_path, weighting="tfidf")
    with pytest.raises(MlmkitError, match=r"mix_ratio=1.5 must be in \[0, 1\]"):
        build_collator("rom", minilm_tokenizer, stats=stats_path, mix_ratio=1.5)
    with pytest.raises(MlmkitError, match=r"holds statistics for strategy 'informask', not 'rom'"):
        build_collator("rom", minilm_tokenizer, stats=informed_stats("informask"))
