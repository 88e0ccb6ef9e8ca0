"""PMI-Masking vocabulary builder (Levine et al., ICLR 2021).

Counts word n-grams (n = 1..5; words are the tokenizer's words, hashed from their token ids with
`mlmkit.stats.hashing`), keeps n >= 2 with count > min_count, scores each by

    PMI_n(w1..wn) = min over segmentations σ of w1..wn into >= 2 contiguous parts of log p(w1..wn) / Π_{s∈σ} p(s)

("the weakest split", paper eq. 3; the `squared` variant uses p(w1..wn)^2 in the numerator, as the released
lists do), ranks per length and mixes 50/25/12.5/12.5 % bigrams..5-grams up to `vocab_size` (paper: 800K).
The artifact stores n-gram hashes and lengths, which the `pmi` collator matches against the word n-grams
of each batch.

Choices the paper leaves open, documented here:
- p(x) of an n-gram of length k is its count over the number of length-k positions in the corpus.
- n-grams never cross a line (a passage) and, by default, contain no punctuation/symbol-only word.
- With the default min_score (0 for `standard`), n-grams whose parts co-occur no more than by chance are
  never units. A length's unused share is not given to other lengths (the paper's mix is kept).
- The default vocabulary size scales with the corpus: one entry per 200 corpus words, at least 1,000 and
  at most the paper's 800K. The paper's 800K entries were the strongest of a corpus of billions of words;
  taking every n-gram above min_count of a small corpus would make weak pairs ("of new", PMI ≈ 1) units
  that then compete with, and at random beat, the collocations they overlap ("new york", PMI ≈ 7).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlmkit.data.output_folder import check_output_file
from mlmkit.errors import MlmkitError
from mlmkit.data.words import encode_words, is_symbol_only
from mlmkit.stats.artifact import save_stats
from mlmkit.stats.corpus import TokenChunk, chunk_from_rows, chunk_word_hashes, corpus_fingerprint, iter_chunks
from mlmkit.stats.counting import HashCounter
from mlmkit.stats.hashing import lookup, ngram_hashes

STRATEGY = "pmi"
MAX_N = 5


@dataclass(frozen=True)
class PmiOptions:
    """Options of the PMI vocabulary builder (defaults: the paper's).

    `max_entries` bounds each n-gram table (about 56 bytes an entry for 5-grams; see
    `mlmkit.stats.counting.HashCounter`), so memory stays bounded on corpora larger than RAM.
    """

    min_count: int = 10
    vocab_size: int | None = None
    length_shares: tuple[float, ...] = (0.5, 0.25, 0.125, 0.125)
    variant: str = "standard"
    min_score: float | None = None
    skip_punctuation: bool = True
    max_entries: int | None = 5_000_000

    def __post_init__(self) -> None:
        if self.variant not in ("standard", "squared"):
            raise MlmkitError(f"PMI variant {self.variant!r} is not known; use 'standard' (paper eq. 3) or 'squared' (released lists)")
        if len(self.length_shares) != MAX_N - 1 or any(share < 0 for share in self.length_shares):
            raise MlmkitError(f"length_shares={self.length_shares} must give 4 non-negative shares for n = 2, 3, 4, 5")
        if self.min_count < 0 or (self.vocab_size is not None and self.vocab_size < 1):
            raise MlmkitError(f"min_count={self.min_count} must be >= 0 and vocab_size={self.vocab_size} >= 1")


def punctuation_table(tokenizer: Any) -> np.ndarray:
    """(V,) bool: token ids made only of punctuation/symbols (a word of such pieces is no collocation part)."""
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return np.array([is_symbol_only((token or "").removeprefix("##")) for token in tokens], dtype=bool)


def phrase_hash(tokenizer: Any, text: str) -> int:
    """The hash under which the n-gram of the words of `text` is stored (to look a phrase up in a vocabulary)."""
    ids, words = encode_words(tokenizer, [text])
    chunk = chunk_from_rows(ids, words)
    return int(ngram_hashes(torch.from_numpy(chunk_word_hashes(chunk)), chunk.num_words)[-1][0])


def _count_chunk(chunk: TokenChunk, counters: list[HashCounter], punctuation: np.ndarray | None) -> None:
    words = chunk_word_hashes(chunk)
    segment = chunk.word_segment
    usable = np.ones(len(words), dtype=bool)
    if punctuation is not None and len(chunk.ids):
        starts = np.flatnonzero(chunk.position == 0)
        usable = ~np.minimum.reduceat(punctuation[chunk.ids], starts)
    all_keys = [keys.numpy() for keys in ngram_hashes(torch.from_numpy(words), MAX_N)]
    for n in range(1, MAX_N + 1):
        span = len(words) - n + 1
        if span <= 0:
            break
        valid = segment[: span] == segment[n - 1 :]
        if n > 1:
            valid &= np.lib.stride_tricks.sliding_window_view(usable, n).all(axis=1)
        starts = np.flatnonzero(valid)
        keys = all_keys[n - 1][starts]
        parts = np.stack([words[starts + offset] for offset in range(n)], axis=1)
        counters[n - 1].add(keys, payload=parts)


def count_ngrams(tokenizer: Any, corpus: Any, options: PmiOptions, num_proc: int | None = None) -> list[HashCounter]:
    """Stream the corpus and count word n-grams for n = 1..5 (payload: the n word hashes)."""
    punctuation = punctuation_table(tokenizer) if options.skip_punctuation else None
    counters = [HashCounter(options.max_entries) for _ in range(MAX_N)]
    for chunk in iter_chunks(tokenizer, corpus, num_proc=num_proc, desc="pmi: counting n-grams"):
        _count_chunk(chunk, counters, punctuation)
    return counters


def _segmentations(n: int) -> list[list[tuple[int, int]]]:
    """All splits of range(n) into >= 2 contiguous parts, as (start, end) pairs."""
    result = []
    for cuts in itertools.product((False, True), repeat=n - 1):
        if any(cuts):
            bounds = [0] + [i + 1 for i, cut in enumerate(cuts) if cut] + [n]
            result.append(list(zip(bounds[:-1], bounds[1:])))
    return result


def _log_probability(counters: list[HashCounter], parts: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """log p of the n-grams whose words are `parts` (E, k); a pruned part counts as `fallback` (a lower bound)."""
    keys, counts, _ = counters[parts.shape[1] - 1].result()
    queries = ngram_hashes(torch.from_numpy(np.ascontiguousarray(parts)), parts.shape[1])[-1][..., 0]
    found, index = lookup(torch.from_numpy(keys), queries)
    found, index = found.numpy(), index.numpy()
    part_counts = np.where(found, counts[index] if len(counts) else 0, fallback)
    return np.log(np.maximum(part_counts, fallback)) - np.log(max(counters[parts.shape[1] - 1].total, 1))


def score_ngrams(counters: list[HashCounter], n: int, options: PmiOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hashes, PMI_n scores, counts) of the length-n n-grams with count > min_count, best first."""
    keys, counts, parts = counters[n - 1].result()
    keep = counts > options.min_count
    keys, counts, parts = keys[keep], counts[keep], parts[keep]
    if len(keys) == 0:
        return keys, np.zeros(0, dtype=np.float64), counts
    log_joint = np.log(counts) - np.log(counters[n - 1].total)
    best_split = np.full(len(keys), -np.inf)
    for segmentation in _segmentations(n):
        total = sum(_log_probability(counters, parts[:, a:b], counts) for a, b in segmentation)
        best_split = np.maximum(best_split, total)
    numerator = 2 * log_joint if options.variant == "squared" else log_joint
    scores = numerator - best_split
    min_score = options.min_score if options.min_score is not None else (0.0 if options.variant == "standard" else -np.inf)
    keep = scores > min_score
    order = np.argsort(-scores[keep], kind="stable")
    return keys[keep][order], scores[keep][order], counts[keep][order]


def default_vocab_size(num_words: int) -> int:
    """One entry per 200 corpus words, within [1,000, 800,000] (see the module docstring)."""
    return min(800_000, max(1_000, num_words // 200))


def build_pmi_stats(tokenizer: Any, corpus: Any, out: str | Path, num_proc: int | None = None, **options: Any) -> Path:
    """Count, score and mix the PMI-Masking vocabulary of `corpus`; write it to `out`.

    Args:
        tokenizer: the fast tokenizer the collator will use.
        corpus: text file(s) or a `datasets.Dataset` (see `mlmkit.stats.corpus.iter_chunks`).
        out: output file (`.safetensors`).
        num_proc: processes for tokenising a dataset.
        **options: fields of `PmiOptions`.

    Returns:
        The path written.
    """
    check_output_file(out)  # before counting, not after
    config = PmiOptions(**options)
    counters = count_ngrams(tokenizer, corpus, config, num_proc)
    vocab_size = config.vocab_size or default_vocab_size(counters[0].total)
    hashes, lengths, scores, counts, summary = [], [], [], [], {"vocab_size": vocab_size}
    for n, share in zip(range(2, MAX_N + 1), config.length_shares):
        keys, score, count = score_ngrams(counters, n, config)
        quota = int(round(share * vocab_size))
        hashes.append(keys[:quota])
        scores.append(score[:quota])
        counts.append(count[:quota])
        lengths.append(np.full(len(keys[:quota]), n, dtype=np.int64))
        summary[f"{n}-grams"] = {"candidates": int(len(keys)), "kept": int(len(keys[:quota]))}
    summary["words"] = counters[0].total
    summary["pruned_below"] = max(counter.pruned_below for counter in counters)
    tensors = {
        "hashes": torch.from_numpy(np.concatenate(hashes)),
        "lengths": torch.from_numpy(np.concatenate(lengths)),
        "scores": torch.from_numpy(np.concatenate(scores).astype(np.float32)),
        "counts": torch.from_numpy(np.concatenate(counts)),
    }
    return save_stats(out, STRATEGY, tensors, tokenizer, corpus_fingerprint(corpus), asdict(config), summary)
