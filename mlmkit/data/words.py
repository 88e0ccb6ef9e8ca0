"""Word boundaries: what a word is, for any fast tokenizer, as word ids that masking strategies consume.

A word is a tokenizer fact (DESIGN.md "Word boundaries"), so it is decided here, in the data stage, once:

- The tokenizer's own words: the pieces its pre-tokenizer splits text into, i.e. what `word_ids()` says.
  `mlmkit data prepare` keeps them as the `word_ids` column (`text_word_ids`). When only ids are at hand
  (`transformers.Trainer` drops that column by default), `mlmkit.data.word_boundaries` derives the same
  words from the ids.
- One rule for unspaced scripts, whatever the tokenizer: each CJK ideograph (the ranges BERT's tokenizer
  splits, `is_cjk`) is a word of its own, as with BERT's WordPiece, unless a word segmenter gives the
  words (Chinese whole-word masking, Cui et al. 2019: `text_word_ids(..., segmenter=jieba.lcut)`).
  A space before an ideograph stays with it, as it does with any other word of a byte-level BPE.
- Special tokens (`special_token_ids`) and padding belong to no word; no word crosses them.

Word ids are numbered per row 0..W-1 in order of appearance, -1 where a position belongs to no word.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from mlmkit.errors import MlmkitError

Segmenter = Callable[[str], Iterable[str]]

# Code point ranges of CJK ideographs, as BERT's BasicTokenizer._is_chinese_char (Devlin et al. 2019).
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)

# Prefixes by which vocabularies mark a word-internal piece (WordPiece) or a piece after a space (byte-level
# BPE, SentencePiece/Metaspace), for code that reads token strings (word classes, punctuation tables).
WORDPIECE_CONTINUATION = "##"
BYTE_LEVEL_WORD_START = "\u0120"  # "Ġ"
METASPACE_WORD_START = "\u2581"  # "▁"

def is_cjk(code_points: np.ndarray) -> np.ndarray:
    """True where a code point is a CJK ideograph (`CJK_RANGES`). Any shape, elementwise."""
    code_points = np.asarray(code_points)
    result = np.zeros(code_points.shape, dtype=bool)
    for low, high in CJK_RANGES:
        result |= (code_points >= low) & (code_points <= high)
    return result


def is_symbol_only(token: str) -> bool:
    """True for a vocabulary piece made only of punctuation/symbols (its space marker aside)."""
    stripped = token.lstrip(BYTE_LEVEL_WORD_START + METASPACE_WORD_START)
    return bool(stripped) and all(unicodedata.category(char)[0] in "PS" for char in stripped)


def special_token_ids(tokenizer: Any) -> list[int]:
    """Ids that are never masked, never drawn as random replacements and belong to no word: the tokenizer's
    special tokens and every added token marked `special=True` (also when added with `add_tokens`)."""
    ids = set(tokenizer.all_special_ids)
    ids.update(i for i, token in tokenizer.added_tokens_decoder.items() if token.special)
    return sorted(ids)


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


def encode_words(
    tokenizer: Any, texts: list[str], segmenter: Segmenter | None = None
) -> tuple[list[list[int]], list[list[int]]]:
    """Tokenize texts without special tokens (special-token text stays text) and give their word ids.

    Returns:
        (input_ids, word_ids): one list per text; word ids from `text_word_ids` (-1: no word).
    """
    encoding = tokenizer(
        texts, add_special_tokens=False, truncation=False, split_special_tokens=True, return_offsets_mapping=True,
        return_attention_mask=False, return_token_type_ids=False, verbose=False,
    )
    return encoding["input_ids"], text_word_ids(encoding, texts, segmenter)


def text_word_ids(encoding: Any, texts: Sequence[str], segmenter: Segmenter | None = None) -> list[list[int]]:
    """Word ids of tokenized texts, as `mlmkit data prepare` stores them: the tokenizer's `word_ids()`, with
    each CJK ideograph a word of its own, or, given a segmenter, the segmenter's words in CJK text.

    Args:
        encoding: the fast tokenizer's output for `texts`, with `return_offsets_mapping=True`.
        texts: the texts that were tokenized.
        segmenter: optional `text -> words` (e.g. `jieba.lcut`), see `document_word_ids`.

    Returns:
        One list per text: the word index of every token, -1 for special tokens.
    """
    return [
        document_word_ids(encoding.word_ids(index), encoding["offset_mapping"][index], text, segmenter).tolist()
        for index, text in enumerate(texts)
    ]


def document_word_ids(
    word_ids: Sequence[int | None], offsets: Sequence[tuple[int, int]], text: str, segmenter: Segmenter | None = None
) -> np.ndarray:
    """Word ids of one tokenized text: `word_ids()` (None: no word), refined by the CJK rule.

    Args:
        word_ids: the tokenizer's word index per token.
        offsets: (start, end) character offsets of every token in `text`.
        text: the text.
        segmenter: optional `text -> words` (e.g. `jieba.lcut`): the words in order, each a piece of the
            text (whitespace may be left out). Where a token starts at or right after a CJK ideograph, the
            segmenter decides whether a new word begins there (Cui et al. 2019, Chinese whole-word masking:
            characters are the pieces, the segmenter's words the units); elsewhere `word_ids()` decides.

    Returns:
        int64 (L,): 0, 1, 2, ... per word in order, -1 for tokens of no word.

    Raises:
        MlmkitError: the segmenter returned a word that is not the next piece of the text.
    """
    words = np.array([-1 if word is None else word for word in word_ids], dtype=np.int64)
    rule = _cjk_rule(text, np.asarray(offsets, dtype=np.int64).reshape(-1, 2), segmenter)  # -1: word_ids() decides
    valid = words >= 0
    after_valid = np.concatenate([[False], valid[:-1]])
    changed = words != np.concatenate([[-1], words[:-1]])
    starts = valid & (~after_valid | np.where(rule >= 0, rule == 1, changed))
    return np.where(valid, np.cumsum(starts) - 1, -1)


_CJK_PATTERN = re.compile("[" + "".join(f"{chr(low)}-{chr(high)}" for low, high in CJK_RANGES) + "]")


def contains_cjk(text: str) -> bool:
    """True if the text holds a CJK ideograph (a regex scan: cheap enough to skip the CJK rule without one)."""
    return _CJK_PATTERN.search(text) is not None


_WHITESPACE = np.array([point for point in range(0x3001) if chr(point).isspace()], dtype=np.int64)


def _cjk_rule(text: str, offsets: np.ndarray, segmenter: Segmenter | None) -> np.ndarray:
    """Per token (L,): 1 or 0 where the CJK rule decides whether a word starts, -1 where `word_ids()` does.

    The rule covers tokens that begin a character of their own (not the rest of one the previous byte-level
    token began), do not begin with whitespace, and begin at an ideograph (unless whitespace precedes it,
    which then began the word) or right after one.
    """
    code_points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    cjk = np.append(is_cjk(code_points), False)  # index -1 (before the text) and len(text) read False
    space = np.append(np.isin(code_points, _WHITESPACE), False)
    start, end = offsets[:, 0], offsets[:, 1]
    own = (start >= np.concatenate([[0], end[:-1]])) & (end > start) & ~space[start]
    ruled = own & (cjk[start - 1] | cjk[start] & ~space[start - 1])
    if segmenter is None:
        return np.where(ruled, 1, -1)
    word_starts = np.array(sorted(_segment_starts(text, segmenter)), dtype=np.int64)
    return np.where(ruled, np.isin(start, word_starts).astype(np.int64), -1)


def _segment_starts(text: str, segmenter: Segmenter) -> set[int]:
    """Character offsets where the segmenter's words start."""
    starts, cursor = set(), 0
    for word in segmenter(text):
        word = str(word).strip()
        if not word:
            continue
        found = text.find(word, cursor)
        if found < 0 or text[cursor:found].strip():
            raise MlmkitError(
                f"the segmenter returned {word!r}, which is not the next piece of the text after position {cursor} "
                f"({text[cursor:cursor + 40]!r}); a segmenter must return the text's own pieces, in order"
            )
        starts.add(found)
        cursor = found + len(word)
    return starts
