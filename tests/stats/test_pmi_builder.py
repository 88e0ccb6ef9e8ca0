"""PMI-Masking vocabulary: the paper's PMI_n on a hand-checkable corpus, the length mix, streaming inputs."""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest

from mlmkit.errors import MlmkitError
from mlmkit.stats.artifact import load_stats
from mlmkit.stats.pmi import build_pmi_stats, phrase_hash

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WORDS = "red blue green small big old young cat dog bird tree house river road city town".split()


@pytest.fixture(scope="module")
def planted_lines() -> list[str]:
    """Random single-piece words with planted collocations ("new york city", "ice cream")."""
    rng = random.Random(0)
    lines = []
    for _ in range(400):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 14))]
        if rng.random() < 0.5:
            at = rng.randrange(len(words))
            words[at:at] = rng.choice([["new", "york", "city"], ["ice", "cream"], ["new", "york"]])
        lines.append(" ".join(words))
    return lines


def ngram_counts(lines: list[str], n: int) -> tuple[Counter, int]:
    counts = Counter(tuple(words[i : i + n]) for words in (line.split() for line in lines) for i in range(len(words) - n + 1))
    return counts, sum(counts.values())


def expected_pmi(lines: list[str], gram: tuple[str, ...], squared: bool = False) -> float:
    """PMI_n = log p(gram)^(1|2) - max over segmentations of Σ log p(part), p of a k-gram = count / #k-gram positions."""
    tables = {k: ngram_counts(lines, k) for k in range(1, len(gram) + 1)}

    def log_p(part: tuple[str, ...]) -> float:
        counts, total = tables[len(part)]
        return math.log(counts[part] / total)

    n = len(gram)
    best = -math.inf
    for mask in range(1, 2 ** (n - 1)):
        cuts = [0] + [i + 1 for i in range(n - 1) if mask >> i & 1] + [n]
        best = max(best, sum(log_p(gram[a:b]) for a, b in zip(cuts[:-1], cuts[1:])))
    return (2 if squared else 1) * log_p(gram) - best


@pytest.mark.parametrize("variant", ["standard", "squared"])
def test_scores_equal_the_papers_formula(variant, planted_lines, tokenizer, tmp_path):
    corpus = tmp_path / "planted.txt"
    corpus.write_text("\n".join(planted_lines) + "\n")
    path = build_pmi_stats(tokenizer, [corpus], tmp_path / "pmi.safetensors", min_count=5, variant=variant)
    stats = load_stats(path, tokenizer, "pmi")
    hashes, scores, lengths = (stats.tensors[k].numpy() for k in ("hashes", "scores", "lengths"))
    for phrase in ["new york", "york city", "new york city", "ice cream"]:
        index = np.flatnonzero(hashes == phrase_hash(tokenizer, phrase))
        assert len(index) == 1 and lengths[index[0]] == len(phrase.split())
        assert scores[index[0]] == pytest.approx(expected_pmi(planted_lines, tuple(phrase.split()), variant == "squared"), abs=1e-4)
    if variant == "standard":  # random word pairs co-occur by chance: PMI near 0, while collocations are far above
        assert scores[hashes == phrase_hash(tokenizer, "ice cream")][0] > 3
        counts2, _ = ngram_counts(planted_lines, 2)
        kept2 = {g for g, c in counts2.items() if c > 5 and expected_pmi(planted_lines, g) > 0}
        assert (lengths == 2).sum() == len(kept2)


def test_length_mix_and_ranking(tokenizer, shared_data, tmp_path):
    wiki = shared_data / "corpus" / "wikitext-2-raw" / "wiki.valid.raw"
    path = build_pmi_stats(tokenizer, [wiki], tmp_path / "pmi.safetensors", vocab_size=400, min_count=3)
    stats = load_stats(path, tokenizer, "pmi")
    lengths, scores = stats.tensors["lengths"].numpy(), stats.tensors["scores"].numpy()
    assert [(lengths == n).sum() for n in (2, 3, 4, 5)] == [200, 100, 50, 50]
    for n in (2, 3, 4, 5):
        assert np.all(np.diff(scores[lengths == n]) <= 0)  # best first within each length
    summary = stats.header["summary"]
    assert summary["2-grams"]["candidates"] > 200 and summary["words"] > 200_000


def test_file_and_dataset_inputs_give_the_same_vocabulary(planted_lines, tokenizer, tmp_path):
    from datasets import Dataset

    corpus = tmp_path / "planted.txt"
    corpus.write_text("\n".join(planted_lines) + "\n")
    from_file = load_stats(build_pmi_stats(tokenizer, [corpus], tmp_path / "a.safetensors", min_count=5), tokenizer, "pmi")
    dataset = Dataset.from_dict({"text": planted_lines})
    from_text = load_stats(build_pmi_stats(tokenizer, dataset, tmp_path / "b.safetensors", min_count=5, num_proc=2), tokenizer, "pmi")
    encoded = tokenizer(planted_lines, add_special_tokens=True)
    prepared = Dataset.from_dict(
        {"input_ids": encoded["input_ids"], "word_ids": [[-1 if w is None else w for w in encoded.word_ids(i)] for i in range(len(planted_lines))]}
    )
    from_ids = load_stats(build_pmi_stats(tokenizer, prepared, tmp_path / "c.safetensors", min_count=5), tokenizer, "pmi")
    for other in (from_text, from_ids):
        assert np.array_equal(np.sort(other.tensors["hashes"].numpy()), np.sort(from_file.tensors["hashes"].numpy()))
    assert from_text.header["corpus"]["rows"] == len(planted_lines)


def test_bad_options_say_what_is_allowed(tokenizer, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\n")
    with pytest.raises(MlmkitError, match=r"variant 'cubed' is not known; use 'standard'"):
        build_pmi_stats(tokenizer, [corpus], tmp_path / "x.safetensors", variant="cubed")
    with pytest.raises(MlmkitError, match=r"corpus file .*missing.txt' does not exist"):
        build_pmi_stats(tokenizer, [tmp_path / "missing.txt"], tmp_path / "x.safetensors")
