"""InforMask statistics builder (Sadeq, Xu, McAuley, EMNLP 2022).

InforMask's repository ships only the output (`id_mask_prob.json`, a masking rate per token id), not the
code that computes it (its issue #1), so this follows the paper's description, with these choices:

1. Co-occurrence: every unordered pair of tokens at most `window` positions apart inside one passage (a
   line, or a run between special tokens) is counted once; unigram counts alongside.
2. Token–token PMI(x, y) = log c(x, y) / E[c(x, y)], where E[c(x, y)] = k · N_pairs · p(x) · p(y) is the
   count expected if x and y were independent (k = 2 for x != y, whose two orders share one key; 1 for
   x = y).
3. Informative relevance of a token type v: the mean, over v's occurrences, of the summed PMI between v
   and its window neighbours — "a masked token should be predictable from its visible context" — which
   equals Σ_u c(v, u) · PMI(v, u) / c(v), so it needs no second pass over the corpus. Every pair counts
   here: a stop-word's PMI with its neighbours averages near 0, a rare content word's is high (it is
   informative), and single noisy pairs average out over a type's occurrences.
   The pair table stored for sample-and-score keeps only pairs seen `min_pair_count` times or more (at
   most `max_pairs`, the most frequent): there one pair's PMI decides between two masks, so it must be
   reliable; pairs outside the table count as PMI 0.
4. Token-specific masking rates (the paper's one-off preprocessing): rate(v) ∝ (1 - uniform_mix) ·
   relevance⁺(v) / mean + uniform_mix, capped at `max_rate`, then scaled so that the corpus-level expected
   rate (over token occurrences) equals `mlm_probability`. Tokens never seen get `mlm_probability`.

The pair table (keys and PMI) is kept too: the collator's sample-and-score mode scores candidate masks with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlmkit.data.output_folder import check_output_file
from mlmkit.errors import MlmkitError
from mlmkit.stats.artifact import save_stats
from mlmkit.stats.corpus import corpus_fingerprint, iter_chunks
from mlmkit.stats.counting import HashCounter

STRATEGY = "informask"


@dataclass(frozen=True)
class InformaskOptions:
    """Options of the InforMask statistics builder (`max_entries` bounds the pair table, 16 bytes an entry)."""

    mlm_probability: float = 0.15
    window: int = 10
    min_pair_count: int = 3
    uniform_mix: float = 0.1
    max_rate: float = 0.6
    max_pairs: int = 5_000_000
    max_entries: int | None = 20_000_000

    def __post_init__(self) -> None:
        if not 0 < self.mlm_probability < self.max_rate <= 1:
            raise MlmkitError(f"need 0 < mlm_probability ({self.mlm_probability}) < max_rate ({self.max_rate}) <= 1")
        if self.window < 1 or not 0 <= self.uniform_mix <= 1:
            raise MlmkitError(f"window={self.window} must be >= 1 and uniform_mix={self.uniform_mix} in [0, 1]")


def count_cooccurrences(tokenizer: Any, corpus: Any, options: InformaskOptions, num_proc: int | None = None) -> tuple[np.ndarray, HashCounter]:
    """Unigram counts (V,) and a counter of unordered token pairs (key = min · V + max) within the window."""
    vocab_size = len(tokenizer)
    unigrams = np.zeros(vocab_size, dtype=np.int64)
    pairs = HashCounter(options.max_entries)
    for chunk in iter_chunks(tokenizer, corpus, num_proc=num_proc, desc="informask: counting pairs"):
        unigrams += np.bincount(chunk.ids, minlength=vocab_size)
        keys = []
        for distance in range(1, options.window + 1):
            same = chunk.segment[:-distance] == chunk.segment[distance:]
            left, right = chunk.ids[:-distance][same], chunk.ids[distance:][same]
            keys.append(np.minimum(left, right) * vocab_size + np.maximum(left, right))
        pairs.add(np.concatenate(keys))
    return unigrams, pairs


def pair_pmi(unigrams: np.ndarray, keys: np.ndarray, counts: np.ndarray, total_pairs: int) -> np.ndarray:
    """PMI of each pair key against independence (see the module docstring, choice 2)."""
    vocab_size = len(unigrams)
    left, right = keys // vocab_size, keys % vocab_size
    probability = unigrams / max(unigrams.sum(), 1)
    orders = np.where(left == right, 1.0, 2.0)
    expected = orders * total_pairs * probability[left] * probability[right]
    return np.log(counts / expected)


def informative_relevance(unigrams: np.ndarray, keys: np.ndarray, counts: np.ndarray, pmi: np.ndarray) -> np.ndarray:
    """(V,) mean summed PMI of each token type with its window neighbours (choice 3)."""
    vocab_size = len(unigrams)
    left, right = keys // vocab_size, keys % vocab_size
    mass = counts * pmi
    # A same-type pair (v, v) gives each of its two occurrences a neighbour.
    totals = np.bincount(left, weights=mass, minlength=vocab_size) + np.bincount(right, weights=mass, minlength=vocab_size)
    return totals / np.maximum(unigrams, 1)


def token_rates(unigrams: np.ndarray, relevance: np.ndarray, options: InformaskOptions) -> np.ndarray:
    """(V,) masking rates with corpus-level expectation `mlm_probability` and none above `max_rate` (choice 4)."""
    seen = unigrams > 0
    positive = np.maximum(relevance, 0.0)
    mean = (unigrams * positive).sum() / max(unigrams.sum(), 1)
    scores = (1 - options.uniform_mix) * positive / max(mean, 1e-12) + options.uniform_mix
    rates = np.full(len(unigrams), options.mlm_probability)
    weights = unigrams[seen].astype(np.float64)
    values = scores[seen]
    capped = np.zeros(len(values), dtype=bool)
    for _ in range(50):  # water-filling: rescale the uncapped rates until the capped ones stop changing
        budget = options.mlm_probability * weights.sum() - options.max_rate * weights[capped].sum()
        scale = budget / max((weights[~capped] * values[~capped]).sum(), 1e-12)
        result = np.where(capped, options.max_rate, values * scale)
        newly = result > options.max_rate
        if not newly.any():
            break
        capped |= newly
    rates[seen] = result
    return rates


def build_informask_stats(tokenizer: Any, corpus: Any, out: str | Path, num_proc: int | None = None, **options: Any) -> Path:
    """Count token co-occurrences in `corpus`, derive PMI, informative relevance and token rates; write `out`.

    Args:
        tokenizer: the fast tokenizer the collator will use.
        corpus: text file(s) or a `datasets.Dataset`.
        out: output file (`.safetensors`).
        num_proc: processes for tokenising a dataset.
        **options: fields of `InformaskOptions`.
    """
    check_output_file(out)  # before counting, not after
    config = InformaskOptions(**options)
    unigrams, counter = count_cooccurrences(tokenizer, corpus, config, num_proc)
    keys, counts, _ = counter.result()
    pmi = pair_pmi(unigrams, keys, counts, counter.total)
    relevance = informative_relevance(unigrams, keys, counts, pmi)
    rates = token_rates(unigrams, relevance, config)
    keep = counts >= max(config.min_pair_count, counter.pruned_below + 1)
    keys, counts, pmi = keys[keep], counts[keep], pmi[keep]
    if len(keys) > config.max_pairs:
        top = np.sort(np.argpartition(-counts, config.max_pairs)[: config.max_pairs])
        keys, pmi = keys[top], pmi[top]
    tensors = {
        "rates": torch.from_numpy(rates.astype(np.float32)),
        "relevance": torch.from_numpy(relevance.astype(np.float32)),
        "unigram_counts": torch.from_numpy(unigrams),
        "pair_keys": torch.from_numpy(keys),
        "pair_pmi": torch.from_numpy(pmi.astype(np.float32)),
    }
    expected = float((unigrams * rates).sum() / max(unigrams.sum(), 1))
    summary = {"tokens": int(unigrams.sum()), "pairs": int(len(keys)), "expected_rate": expected, "pruned_below": counter.pruned_below}
    return save_stats(out, STRATEGY, tensors, tokenizer, corpus_fingerprint(corpus), asdict(config), summary)
