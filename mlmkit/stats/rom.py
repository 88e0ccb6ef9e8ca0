"""ROM (Retrieval Oriented Masking; Long et al. 2022) term-importance statistics.

ROM masks important terms more often than stop-words and punctuation, with importance from an unsupervised
lexical weight. The corpus-level part of that weight is the inverse document frequency; the per-passage
part (BM25's saturated term frequency) needs only the passage itself, so the collator computes it from
the batch (`weighting="bm25"`) and this builder stores what it cannot: document frequencies, the number
of documents, the mean document length, and the BM25 IDF

    idf(t) = log(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

(the non-negative Lucene/Robertson form). A document is a line of a text file, or a run of a prepared
example between special tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlmkit.data.output_folder import check_output_file
from mlmkit.stats.artifact import save_stats
from mlmkit.stats.corpus import corpus_fingerprint, iter_chunks

STRATEGY = "rom"


def bm25_idf(document_frequency: np.ndarray, num_documents: int) -> np.ndarray:
    """Non-negative BM25 IDF of each token id; unseen tokens get the highest value."""
    df = document_frequency.astype(np.float64)
    return np.log1p((num_documents - df + 0.5) / (df + 0.5))


def count_document_frequency(tokenizer: Any, corpus: Any, num_proc: int | None = None) -> tuple[np.ndarray, int, int]:
    """(df (V,), number of documents, number of tokens) over the corpus."""
    vocab_size = len(tokenizer)
    frequency = np.zeros(vocab_size, dtype=np.int64)
    documents = tokens = 0
    for chunk in iter_chunks(tokenizer, corpus, num_proc=num_proc, desc="rom: counting documents"):
        if not len(chunk.ids):
            continue
        present = np.unique(chunk.segment * vocab_size + chunk.ids) % vocab_size
        frequency += np.bincount(present, minlength=vocab_size)
        documents += int(chunk.segment[-1]) + 1
        tokens += len(chunk.ids)
    return frequency, documents, tokens


def build_rom_stats(tokenizer: Any, corpus: Any, out: str | Path, num_proc: int | None = None) -> Path:
    """Count document frequencies in `corpus` and write the IDF table for the `rom` collator to `out`."""
    check_output_file(out)  # before counting, not after
    frequency, documents, tokens = count_document_frequency(tokenizer, corpus, num_proc)
    idf = bm25_idf(frequency, documents)
    tensors = {
        "idf": torch.from_numpy(idf.astype(np.float32)),
        "document_frequency": torch.from_numpy(frequency),
        "num_documents": torch.tensor([documents], dtype=torch.int64),
        "average_document_length": torch.tensor([tokens / max(documents, 1)], dtype=torch.float32),
    }
    summary = {"documents": documents, "tokens": tokens}
    return save_stats(out, STRATEGY, tensors, tokenizer, corpus_fingerprint(corpus), {}, summary)
