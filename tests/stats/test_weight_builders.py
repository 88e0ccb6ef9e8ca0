"""InforMask, ROM and Difference-Masking statistics: formulas on hand-countable corpora, real-data sanity."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from mlmkit.stats.artifact import load_stats
from mlmkit.stats.informask import build_informask_stats
from mlmkit.stats.rom import build_rom_stats

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LINES = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the bird sang"]


@pytest.fixture()
def tiny_corpus(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("\n".join(LINES) + "\n")
    return path


def test_rom_idf_is_bm25_idf_over_lines(tokenizer, tiny_corpus, tmp_path):
    stats = load_stats(build_rom_stats(tokenizer, [tiny_corpus], tmp_path / "rom.safetensors"), tokenizer, "rom")
    document_frequency = Counter(word for line in LINES for word in set(line.split()))
    for word, df in document_frequency.items():
        index = tokenizer.convert_tokens_to_ids(word)
        assert stats.tensors["document_frequency"][index] == df
        assert stats.tensors["idf"][index].item() == pytest.approx(math.log1p((4 - df + 0.5) / (df + 0.5)), rel=1e-6)
    assert stats.tensors["num_documents"].item() == 4
    assert stats.tensors["average_document_length"].item() == pytest.approx(sum(len(line.split()) for line in LINES) / 4)


def test_informask_pair_pmi_relevance_and_rates(tokenizer, tiny_corpus, tmp_path):
    options = {"window": 2, "min_pair_count": 1, "mlm_probability": 0.15, "uniform_mix": 0.1, "max_rate": 0.3}
    stats = load_stats(build_informask_stats(tokenizer, [tiny_corpus], tmp_path / "i.safetensors", **options), tokenizer, "informask")
    tokens = [line.split() for line in LINES]
    unigram = Counter(word for words in tokens for word in words)
    pairs = Counter(tuple(sorted((w[i], w[i + d]))) for w in tokens for d in (1, 2) for i in range(len(w) - d))
    total_tokens, total_pairs = sum(unigram.values()), sum(pairs.values())
    vocab = tokenizer.convert_tokens_to_ids
    keys, pmi = stats.tensors["pair_keys"].tolist(), stats.tensors["pair_pmi"]
    for (a, b), count in pairs.items():
        expected = math.log(count / ((1 if a == b else 2) * total_pairs * unigram[a] / total_tokens * unigram[b] / total_tokens))
        key = min(vocab(a), vocab(b)) * len(tokenizer) + max(vocab(a), vocab(b))
        assert pmi[keys.index(key)].item() == pytest.approx(expected, abs=1e-5)
    rates, counts = stats.tensors["rates"].double(), stats.tensors["unigram_counts"].double()
    assert (rates * counts).sum() / counts.sum() == pytest.approx(0.15, abs=1e-6)  # corpus-level expected rate
    assert rates.max() == pytest.approx(0.3) and (rates > 0.3 - 1e-6).sum() >= 1  # the cap binds, the mean holds
    assert torch.allclose(rates[counts == 0], torch.tensor(0.15, dtype=torch.float64))


def test_informask_on_wikitext_masks_stop_words_less(tokenizer, informed_stats):
    stats = load_stats(informed_stats("informask"), tokenizer, "informask")
    rates = stats.tensors["rates"]
    rate = {word: rates[tokenizer.convert_tokens_to_ids(word)].item() for word in ["the", "of", ",", ".", "album", "hurricane", "species"]}
    assert max(rate["the"], rate["of"], rate[","], rate["."]) < 0.5 * 0.15 < 0.15 < min(rate["album"], rate["hurricane"], rate["species"])
    assert stats.header["summary"]["expected_rate"] == pytest.approx(0.15, abs=1e-6)


def test_difference_anchors_and_scores(tokenizer, informed_stats):
    stats = load_stats(informed_stats("difference"), tokenizer, "difference")
    anchors = [word for word, _ in stats.header["summary"]["anchors"]]
    assert len(anchors) == 20 and all(word.isalpha() and len(word) >= 3 for word in anchors)
    assert not {"the", "and", "with", "were", "that", "this"} & set(anchors)  # stop-words are not domain anchors
    assert {"patients", "induced", "rats"} <= set(anchors)  # BC5CDR: chemically induced disease in patients and rats
    similarity, scores = stats.tensors["similarity"], stats.tensors["scores"]
    assert torch.allclose(scores, similarity * torch.sigmoid(similarity))
    assert similarity.max() <= 1.0 + 1e-5 and len(stats.tensors["word_hashes"]) == 400
    rows = {word: row for row, word in enumerate(_table_words(tokenizer, stats))}
    for function_word in ("the", "of", "and"):  # pieces-only pooling keeps lone function words unlike the anchors
        assert similarity[rows[function_word]] < 0.3
    assert ((similarity > 0.5) & (similarity < 0.99)).sum() >= 10  # while many domain words are like them
    assert len(np.unique(stats.tensors["word_hashes"].numpy())) == 400


def _table_words(tokenizer, stats) -> list[str]:
    """The words of a Difference table that are single vocabulary pieces, in table order (others: "")."""
    from mlmkit.stats.corpus import chunk_from_rows, chunk_word_hashes

    vocab = [token for token in tokenizer.get_vocab() if token.isalpha()]
    hashes = chunk_word_hashes(chunk_from_rows([[tokenizer.convert_tokens_to_ids(t)] for t in vocab], [[0]] * len(vocab)))
    by_hash = dict(zip(hashes.tolist(), vocab))
    return [by_hash.get(h, "") for h in stats.tensors["word_hashes"].tolist()]
