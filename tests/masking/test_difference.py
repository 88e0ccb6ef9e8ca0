"""Difference-Masking collator: on biomedical text, words like the domain's anchors are masked more."""

from __future__ import annotations

import pytest
import torch

from masking_helpers import selection

from mlmkit import build_collator
from mlmkit.errors import MlmkitError
from mlmkit.masking.selection import token_budget
from mlmkit.stats.artifact import load_stats

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def stats_path(informed_stats):
    return informed_stats("difference")


@pytest.fixture(scope="module")
def bc5cdr_features(minilm_tokenizer, shared_data) -> list[dict]:
    """Abstracts (not titles) of the BC5CDR slice the statistics were built from, 128-token rows with word ids."""
    lines = (shared_data / "domain" / "bc5cdr" / "bc5cdr_abstracts.txt").read_text(encoding="utf-8").splitlines()[:600]
    texts = [line for line in lines if len(line.split()) > 40]
    encoded = minilm_tokenizer(texts, truncation=True, max_length=128)
    return [{"input_ids": ids, "word_ids": [-1 if w is None else w for w in encoded.word_ids(i)]} for i, ids in enumerate(encoded["input_ids"])]


def test_anchor_like_words_masked_more(stats_path, minilm_tokenizer, bc5cdr_features, mask_counts):
    stats = load_stats(stats_path, minilm_tokenizer, "difference")
    anchors = [word for word, _ in stats.header["summary"]["anchors"]]
    anchor_ids = [i for i in minilm_tokenizer.convert_tokens_to_ids(anchors) if i != minilm_tokenizer.unk_token_id]
    assert len(anchor_ids) >= 15  # single-piece anchors: each is its own word, similarity 1 to itself
    difference = mask_counts(build_collator("difference", minilm_tokenizer, stats=stats_path, seed=2), bc5cdr_features, passes=2)
    whole_word = mask_counts(build_collator("whole_word", minilm_tokenizer, seed=2), bc5cdr_features, passes=2)
    # Thousands of anchor occurrences: binomial sds < 0.01 against a gap of several times that.
    assert difference.share(anchor_ids) > 1.5 * whole_word.share(anchor_ids)
    mixed = mask_counts(build_collator("difference", minilm_tokenizer, stats=stats_path, alpha=0.0, seed=2), bc5cdr_features, passes=2)
    assert abs(mixed.share(anchor_ids) - whole_word.share(anchor_ids)) < 0.03  # alpha = 0: uniform words


def test_rank_weights_follow_similarity(stats_path, minilm_tokenizer):
    """Within a sequence the word at similarity rank r of n gets weight n - r."""
    collator = build_collator("difference", minilm_tokenizer, stats=stats_path)
    anchors = [word for word, _ in load_stats(stats_path, minilm_tokenizer, "difference").header["summary"]["anchors"]]
    words = [anchors[0], "were", "seen", "with", anchors[1], "and", "the", anchors[2]]
    encoded = minilm_tokenizer([" ".join(words)], return_tensors="pt")
    word_ids = torch.tensor([[-1 if w is None else w for w in encoded.word_ids(0)]])
    weights, exists = collator.masker.word_weights(encoded["input_ids"], word_ids)
    assert exists.all() and weights[0].max() == 8 and weights[0].min() >= 1  # n = 8 words, weight n - rank
    assert {words[i] for i in range(8) if weights[0, i] >= 6} == set(anchors[:3])  # the anchors rank on top


def test_budget_words_whole_and_specials(stats_path, minilm_tokenizer, bc5cdr_features):
    batch = build_collator("difference", minilm_tokenizer, stats=stats_path)(bc5cdr_features[:64])
    selected, _, maskable = selection(batch, minilm_tokenizer)
    budget, count = token_budget(maskable, 0.15), selected.sum(1)
    assert (count >= budget).all() and (count - budget < 12).all() and not (selected & ~maskable).any()
    for row, feature in enumerate(bc5cdr_features[:64]):  # whole words: all pieces of a word or none
        word_ids = torch.tensor(feature["word_ids"])
        for word in word_ids.unique()[1:]:
            picked = selected[row, : len(word_ids)][word_ids == word]
            assert picked.all() or not picked.any()


def test_bad_options_are_refused(stats_path, minilm_tokenizer):
    with pytest.raises(MlmkitError, match=r"alpha=2 must be in \[0, 1\]"):
        build_collator("difference", minilm_tokenizer, stats=stats_path, alpha=2)
    with pytest.raises(MlmkitError, match=r"weighting='cosine' is not known"):
        build_collator("difference", minilm_tokenizer, stats=stats_path, weighting="cosine")
