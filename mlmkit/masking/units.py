"""Units: which tokens are masked together (a token, a word, a span of words).

Every strategy describes its units as `unit_ids (B, T)`: per row 0..U_b-1 in order of appearance,
-1 where a position can not be masked. Units are contiguous runs of positions. This module turns
what a batch carries (`word_ids` from the tokenizer pipeline, or only `input_ids`) into word ids;
strategies group words further (spans, n-grams).

When only ids are at hand (e.g. `transformers.Trainer` dropped the `word_ids` column), words come from
the vocabulary's own convention, looked up in one precomputed (V,) table so that the per-batch cost is a
gather and a cumulative sum.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import torch

# Prefix that marks a word-internal piece (WordPiece) or a word start (byte-level BPE, SentencePiece).
WORDPIECE_CONTINUATION = "##"
BYTE_LEVEL_WORD_START = "\u0120"  # "Ġ", GPT-2/RoBERTa byte-level BPE: a piece after a space
METASPACE_WORD_START = "\u2581"  # "▁", SentencePiece / Metaspace


def is_symbol_only(token: str) -> bool:
    """True for pieces made only of punctuation/symbols, which byte-level BPE and SentencePiece emit
    without a space marker but which are words of their own ("," in "head," is not part of "head")."""
    stripped = token.lstrip(BYTE_LEVEL_WORD_START + METASPACE_WORD_START)
    return bool(stripped) and all(unicodedata.category(char)[0] in "PS" for char in stripped)


def _vocabulary_convention(tokens: list[str]) -> str:
    """Name the word convention the vocabulary follows, by counting its marked pieces."""
    counts = {
        "wordpiece": sum(token.startswith(WORDPIECE_CONTINUATION) and len(token) > 2 for token in tokens),
        "byte_level": sum(token.startswith(BYTE_LEVEL_WORD_START) for token in tokens),
        "metaspace": sum(token.startswith(METASPACE_WORD_START) for token in tokens),
    }
    convention = max(counts, key=counts.__getitem__)
    return convention if counts[convention] > 0 else "characters"


def word_start_table(tokenizer: Any) -> torch.Tensor:
    """Return a (V,) bool table: True where a vocabulary id starts a word.

    The convention is read from the vocabulary itself: WordPiece pieces that do not start with "##";
    byte-level BPE pieces that start with "Ġ" or are punctuation/symbols only; SentencePiece/Metaspace
    pieces that start with "▁" or are punctuation only. A vocabulary with none of these markers
    (e.g. characters) makes every piece a word. Special ids are True (they are never masked anyway,
    and a word always restarts after one).

    Args:
        tokenizer: a Hugging Face tokenizer (fast or slow); V = len(tokenizer), added tokens included.

    Returns:
        BoolTensor (V,).
    """
    size = len(tokenizer)
    tokens = [token or "" for token in tokenizer.convert_ids_to_tokens(list(range(size)))]
    convention = _vocabulary_convention(tokens)
    if convention == "wordpiece":
        starts = [not token.startswith(WORDPIECE_CONTINUATION) for token in tokens]
    elif convention == "byte_level":
        starts = [token.startswith(BYTE_LEVEL_WORD_START) or is_symbol_only(token) for token in tokens]
    elif convention == "metaspace":
        starts = [token.startswith(METASPACE_WORD_START) or is_symbol_only(token) for token in tokens]
    else:
        starts = [True] * size
    table = torch.tensor(starts, dtype=torch.bool)
    special_ids = [i for i in tokenizer.all_special_ids if 0 <= i < size]
    table[special_ids] = True
    return table


def derive_word_ids(input_ids: torch.Tensor, maskable: torch.Tensor, start_table: torch.Tensor) -> torch.Tensor:
    """Number the words of each row from the vocabulary's word-start table.

    A word starts at a word-start token, or at any maskable token that follows a non-maskable one, so
    words never cross special tokens, document separators or padding.

    Args:
        input_ids: LongTensor (B, T).
        maskable: BoolTensor (B, T), False at specials and padding.
        start_table: BoolTensor (V,) from `word_start_table`.

    Returns:
        LongTensor (B, T): per row 0..W_b-1 in order of appearance, -1 where not maskable.
    """
    ids = input_ids.clamp(0, start_table.numel() - 1)  # ids beyond the table (e.g. padding -1) are not maskable anyway
    is_start = start_table[ids]  # (B, T)
    return number_runs(maskable, is_start)


def normalize_word_ids(word_ids: torch.Tensor) -> torch.Tensor:
    """Renumber given word ids to 0..W_b-1 per row, in order of appearance.

    Word ids from a tokenizer restart in every document of a packed block and are missing (-1) at
    specials; a new word starts wherever the id changes or follows a -1.

    Args:
        word_ids: LongTensor (B, T) with -1 where not maskable.

    Returns:
        LongTensor (B, T): 0..W_b-1 per row, -1 kept.
    """
    valid = word_ids >= 0
    changed = torch.ones_like(valid)
    changed[:, 1:] = word_ids[:, 1:] != word_ids[:, :-1]
    return number_runs(valid, changed)


def number_runs(valid: torch.Tensor, is_start: torch.Tensor) -> torch.Tensor:
    """Number runs of valid positions (B, T) per row in order: a run begins where `is_start` or after an
    invalid position; -1 where not valid. Shared by word numbering and by strategies that group words."""
    after_invalid = torch.ones_like(valid)
    after_invalid[:, 1:] = ~valid[:, :-1]
    starts = valid & (is_start | after_invalid)  # (B, T)
    numbers = starts.cumsum(dim=1) - 1
    return numbers.masked_fill_(~valid, -1)


def token_unit_ids(maskable: torch.Tensor) -> torch.Tensor:
    """Unit ids where every maskable position is its own unit: LongTensor (B, T), -1 elsewhere."""
    return number_runs(maskable, torch.ones_like(maskable))


def count_units(unit_ids: torch.Tensor) -> int:
    """Number of unit columns a batch needs: the largest unit id + 1 (0 for an empty batch)."""
    return int(unit_ids.max()) + 1 if unit_ids.numel() else 0


def unit_lengths(unit_ids: torch.Tensor, num_units: int | None = None) -> torch.Tensor:
    """Count the tokens of every unit: LongTensor (B, U), U = num_units or the largest unit id + 1."""
    if num_units is None:
        num_units = count_units(unit_ids)
    lengths = torch.zeros(unit_ids.shape[0], num_units + 1, dtype=torch.long)
    # Column 0 collects the -1 positions so that one scatter serves every row.
    lengths.scatter_add_(1, unit_ids + 1, torch.ones_like(unit_ids))
    return lengths[:, 1:]
