"""Words derived from token ids alone, vectorised, equal to the tokenizer's own `word_ids()`.

`transformers.Trainer` drops the `word_ids` column by default, so the collator derives words from ids with
the tokenizer's own rules (`mlmkit.data.words` says what a word is):
- WordPiece: from its continuation prefix ("##": a piece without it starts a word).
- Every other model (byte-level BPE, Unigram/SentencePiece, ...): from the text each id stands for
  (byte-level pieces decoded to bytes, "▁" read as a space) and the tokenizer's own pre-tokenizer, probed
  once on every window of four character classes (a split may depend on the characters around it, e.g.
  `\\s+(?!\\S)`). A byte-level piece that holds only part of a UTF-8 character never starts a word. The
  derived words equal `word_ids()` wherever a pre-tokenizer decides by character class (BERT's, mlmkit's
  three kinds, Metaspace); a rule tied to particular letters (GPT-2's contractions "'s", "'t") is not read.
"""

from __future__ import annotations

import itertools
import json
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import torch

from mlmkit.data.words import is_cjk, normalize_word_ids, number_runs, special_token_ids
from mlmkit.errors import MlmkitError
from mlmkit.vocabulary_table import per_token

# Character classes a pre-tokenizer is probed with (one representative each); EDGE = no character
# (the start or end of a run of maskable tokens).
EDGE, SPACE, OTHER_SPACE, ASCII_PUNCT, PUNCT, SYMBOL, LETTER, NUMBER, MARK, CJK, OTHER = range(11)
NUM_CLASSES = 11
REPRESENTATIVES = {
    SPACE: " ", OTHER_SPACE: "\n", ASCII_PUNCT: ",", PUNCT: "\u2014", SYMBOL: "\u00a9",
    LETTER: "a", NUMBER: "1", MARK: "\u0301", CJK: "\u4e2d", OTHER: "\x01",
}
_FRAGMENT = 256  # item codes >= this are bytes of a character split across pieces: code - 256
_CONTINUATION = -1  # a byte-level character's later bytes, once the character is decoded


@lru_cache(maxsize=65536)
def character_class(code_point: int) -> int:
    """The class (SPACE ... OTHER) of one character, as pre-tokenizers tell characters apart."""
    char = chr(code_point)
    if char == " ":
        return SPACE
    if char.isspace():
        return OTHER_SPACE
    if code_point < 128 and not char.isalnum() and char.isprintable():
        return ASCII_PUNCT  # BERT counts ASCII symbols ($, +, <, ...) as punctuation too
    if is_cjk(np.array(code_point)):
        return CJK
    return {"P": PUNCT, "S": SYMBOL, "L": LETTER, "N": NUMBER, "M": MARK}.get(unicodedata.category(char)[0], OTHER)


_SPLIT_START_TABLES: dict[str, torch.Tensor] = {}


def _split_start_table(pre_tokenizer: Any) -> torch.Tensor:
    """BoolTensor (K, K, K, K), K = NUM_CLASSES: whether the pre-tokenizer starts a split at character b of
    the classes (p, a, b, c) (b the character, a and p the two before it, c the one after it).

    Found by running the pre-tokenizer itself on one representative character per class, so any
    pre-tokenizer that splits by character class is read without knowing its rules; computed once per
    pre-tokenizer. The CJK rule is added on top: an ideograph starts a word (unless whitespace before it
    already did) and ends one.
    """
    key = pre_tokenizer.__getstate__().decode() if pre_tokenizer is not None else ""
    if key in _SPLIT_START_TABLES:
        return _SPLIT_START_TABLES[key]
    table = torch.zeros((NUM_CLASSES,) * 4, dtype=torch.bool)
    if pre_tokenizer is not None:
        classes = range(NUM_CLASSES)
        for p, a, b, c in itertools.product(classes, classes, range(1, NUM_CLASSES), classes):
            if a == EDGE and p != EDGE:
                continue
            before = "".join(REPRESENTATIVES[k] for k in (p, a) if k != EDGE)
            text = before + REPRESENTATIVES[b] + (REPRESENTATIVES[c] if c != EDGE else "")
            table[p, a, b, c] = any(start == len(before) for _, (start, _) in pre_tokenizer.pre_tokenize_str(text))
    table[:, CJK, 1:, :] = True
    spaces = torch.tensor([a in (SPACE, OTHER_SPACE) for a in range(NUM_CLASSES)])
    table[:, ~spaces, CJK, :] = True
    _SPLIT_START_TABLES[key] = table
    return table


def _find(config: Any, kind: str) -> dict | None:
    """The first component of type `kind` in a tokenizer.json (sub)tree, or None."""
    if isinstance(config, dict):
        if config.get("type") == kind:
            return config
        config = list(config.values())
    if isinstance(config, list):
        for item in config:
            found = _find(item, kind)
            if found is not None:
                return found
    return None


def _surface_bytes(tokens: list[str], config: dict) -> list[bytes]:
    """What each vocabulary piece stands for in the pre-tokenizer's input: byte-level pieces decoded to
    bytes (possibly part of a UTF-8 character), the Metaspace replacement read as a space."""
    if _find([config.get("pre_tokenizer"), config.get("decoder")], "ByteLevel") is not None:
        from transformers.convert_slow_tokenizer import bytes_to_unicode

        to_byte = {char: byte for byte, char in bytes_to_unicode().items()}
        return [bytes(to_byte[c] for c in token) if all(c in to_byte for c in token) else token.encode() for token in tokens]
    metaspace = _find([config.get("pre_tokenizer"), config.get("decoder")], "Metaspace")
    if metaspace is not None:
        return [token.replace(metaspace.get("replacement", "\u2581"), " ").encode() for token in tokens]
    return [token.encode() for token in tokens]


def _items(surface: bytes) -> list[int]:
    """A piece as character items: the class of each complete UTF-8 character, FRAGMENT + byte for the
    bytes of a character the piece holds only part of."""
    items, position = [], 0
    while position < len(surface):
        lead = surface[position]
        size = 1 if lead < 0x80 else 2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else 4 if lead >> 3 == 0b11110 else 0
        chunk = surface[position : position + size]
        try:
            items.append(character_class(ord(chunk.decode("utf-8"))) if size else None)
        except UnicodeDecodeError:
            items.append(None)
        if items[-1] is None:  # a continuation byte, or a character cut at the piece's end
            items[-1], size = _FRAGMENT + lead, 1
        position += size
    return items


def _shift(values: torch.Tensor, offset: int, fill: Any) -> torch.Tensor:
    """out[:, t] = values[:, t - offset] along dim 1 (offset > 0: from the left), `fill` outside."""
    out = torch.full_like(values, fill)
    if offset > 0:
        out[:, offset:] = values[:, :-offset]
    else:
        out[:, :offset] = values[:, -offset:]
    return out


@dataclass(frozen=True)
class WordBoundaries:
    """Per-vocabulary-id tables from which the words of a batch of ids are derived, vectorised.

    Build once per tokenizer with `from_tokenizer`. A batch costs a few gathers over its tokens: the
    characters around each junction of two pieces are read from per-id tables (first two and last two
    characters of every piece). Rows holding a character split across byte-level pieces are read character
    by character instead (`_character_starts`), still without a Python loop over tokens.
    """

    piece_starts: torch.Tensor | None  # (V,) bool, WordPiece: no continuation prefix, or a CJK first character; None: other models
    cjk_last: torch.Tensor  # (V,) bool, WordPiece: the piece ends with a CJK ideograph (the next piece starts a word)
    isolated: torch.Tensor  # (V,) bool: an added (non-special) token, which the tokenizer splits off as a word
    items: torch.Tensor  # (V, I) int16: character items of every piece (`_items`), padded
    item_count: torch.Tensor  # (V,) long: items per piece
    edges: torch.Tensor  # (V, 4) long: classes of the first, second, second-to-last and last character (EDGE: none)
    split: torch.Tensor  # (V,) bool: the piece holds part of a character split across pieces
    split_starts: torch.Tensor  # (K**4,) bool, flattened `_split_start_table`

    @cached_property
    def has_isolated(self) -> bool:
        """The vocabulary has added (non-special) tokens; read once, not per batch."""
        return bool(self.isolated.any())

    @cached_property
    def has_cjk_last(self) -> bool:
        """Some WordPiece piece ends with an ideograph the normalizer does not split off."""
        return bool(self.cjk_last.any())

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> "WordBoundaries":
        """Read the word rules of a fast tokenizer (its model, pre-tokenizer and vocabulary).

        Raises:
            MlmkitError: a slow tokenizer (no `backend_tokenizer` to read the rules from).
        """
        if not getattr(tokenizer, "is_fast", False):
            raise MlmkitError(
                f"{type(tokenizer).__name__} is a slow tokenizer; words are read from a fast tokenizer's rules. "
                "Load it with AutoTokenizer.from_pretrained(..., use_fast=True) or save it with a tokenizer.json"
            )
        size = len(tokenizer)
        tokens = [token or "" for token in tokenizer.convert_ids_to_tokens(list(range(size)))]
        config = json.loads(tokenizer.backend_tokenizer.to_str())
        model = config.get("model", {})
        isolated = torch.zeros(size, dtype=torch.bool)
        special = set(special_token_ids(tokenizer))
        isolated[[i for i in tokenizer.added_tokens_decoder if i < size and i not in special]] = True
        empty = torch.zeros(size, dtype=torch.bool)
        if model.get("type") == "WordPiece":
            prefix = model.get("continuing_subword_prefix") or "##"
            stems = [token.removeprefix(prefix) or token for token in tokens]
            cjk_first = torch.from_numpy(is_cjk(np.array([ord(stem[0]) if stem else 0 for stem in stems])))
            cjk_last = torch.from_numpy(is_cjk(np.array([ord(stem[-1]) if stem else 0 for stem in stems])))
            continuation = torch.tensor([token.startswith(prefix) and len(token) > len(prefix) for token in tokens])
            bert = _find(config.get("normalizer"), "BertNormalizer")
            if bert is not None and bert.get("handle_chinese_chars", True):  # ideographs are words already
                cjk_last = empty
            return cls(~continuation | cjk_first, cjk_last, isolated, torch.zeros(size, 1, dtype=torch.int16),
                       torch.zeros(size, dtype=torch.long), torch.zeros(size, 4, dtype=torch.long), empty,
                       torch.zeros(0, dtype=torch.bool))
        items = [_items(surface) for surface in _surface_bytes(tokens, config)]
        table = torch.zeros(size, max(max(map(len, items), default=0), 1), dtype=torch.int16)
        edges = torch.full((size, 4), EDGE, dtype=torch.long)
        for index, row in enumerate(items):
            table[index, : len(row)] = torch.tensor(row, dtype=torch.int16)
            if row:
                edges[index] = torch.tensor([row[0], row[1] if len(row) > 1 else EDGE, row[-2] if len(row) > 1 else EDGE, row[-1]])
        split = (table >= _FRAGMENT).any(dim=1)
        counts = torch.tensor([len(row) for row in items], dtype=torch.long)
        starts = _split_start_table(tokenizer.backend_tokenizer.pre_tokenizer).flatten()
        return cls(None, empty, isolated, table, counts, edges.masked_fill_(split.unsqueeze(1), EDGE), split, starts)

    def __call__(self, input_ids: torch.Tensor, maskable: torch.Tensor) -> torch.Tensor:
        """Word ids of a batch.

        Args:
            input_ids: LongTensor (B, T).
            maskable: BoolTensor (B, T), False at specials and padding (no word crosses them).

        Returns:
            LongTensor (B, T): per row 0..W_b-1 in order of appearance, -1 where not maskable.
        """
        ids = input_ids.clamp(0, self.isolated.numel() - 1)  # ids beyond the table are not maskable anyway
        alone = per_token(self.isolated, ids) & maskable if self.has_isolated else None
        if self.piece_starts is not None:
            starts = per_token(self.piece_starts, ids)
            if self.has_cjk_last:  # a normalizer that does not split ideographs off (BERT's does)
                starts |= _shift(per_token(self.cjk_last, ids), 1, False)
        else:
            joinable = maskable if alone is None else maskable & ~alone  # runs of pieces read as one text
            starts = self._junction_starts(ids, joinable)
            rows = (per_token(self.split, ids) & joinable).any(dim=1).nonzero().flatten()
            if rows.numel():
                starts[rows] = self._character_starts(ids[rows], joinable[rows])
        if alone is not None:  # an added token is a word of its own
            starts = starts | alone | _shift(alone, 1, False)
        return number_runs(maskable, starts)

    def _junction_starts(self, ids: torch.Tensor, joinable: torch.Tensor) -> torch.Tensor:
        """BoolTensor (B, T): the pre-tokenizer starts a split at the first character of a piece, read from the
        two characters before it and the one after it (exact in rows without split characters)."""
        edges = per_token(self.edges, ids)  # (B, T, 4)
        previous = _shift(joinable, 1, False)
        before = torch.where(previous, _shift(edges[..., 3], 1, EDGE), EDGE)
        two_back = torch.where(previous & _shift(previous, 1, False), _shift(edges[..., 3], 2, EDGE), EDGE)
        two_back = torch.where(previous & (_shift(edges[..., 2], 1, EDGE) != EDGE), _shift(edges[..., 2], 1, EDGE), two_back)
        after = torch.where(_shift(joinable, -1, False), _shift(edges[..., 0], -1, EDGE), EDGE)
        after = torch.where(edges[..., 1] != EDGE, edges[..., 1], after)
        window = ((two_back * NUM_CLASSES + before) * NUM_CLASSES + edges[..., 0]) * NUM_CLASSES + after
        return self.split_starts[window] & (edges[..., 0] != EDGE)

    def _character_starts(self, ids: torch.Tensor, joinable: torch.Tensor) -> torch.Tensor:
        """BoolTensor (B, T): a piece holds a character where the pre-tokenizer starts a split, reading the
        characters of each run of `joinable` pieces as one text (split characters decoded from their bytes)."""
        flat_ids, flat_join = ids.flatten(), joinable.flatten()
        count = self.item_count[flat_ids] * flat_join  # (N,) items per piece
        items = self.items[flat_ids][torch.arange(self.items.shape[1]) < count.unsqueeze(1)].long()  # (M,)
        piece = torch.repeat_interleave(torch.arange(flat_ids.numel()), count)  # (M,) piece of each item
        run_start = flat_join.clone()
        run_start[1:] &= ~flat_join[:-1]
        run_start[:: ids.shape[1]] = flat_join[:: ids.shape[1]]  # every row starts a new run
        run = run_start.cumsum(0)[piece]  # (M,)
        items = _decode_fragments(items, run)
        is_char = items != _CONTINUATION
        classes, piece, run = items[is_char], piece[is_char], run[is_char]
        before = _neighbour(classes, run, 1)
        window = ((_neighbour(classes, run, 2) * NUM_CLASSES + before) * NUM_CLASSES + classes) * NUM_CLASSES
        window += _neighbour(classes, run, -1)
        starts = torch.zeros(flat_ids.numel(), dtype=torch.long).index_add_(0, piece, self.split_starts[window].long())
        return (starts > 0).view(ids.shape)


def _neighbour(classes: torch.Tensor, run: torch.Tensor, offset: int) -> torch.Tensor:
    """Class of the character `offset` places before (negative: after) each one, EDGE outside its run."""
    shifted = torch.full_like(classes, EDGE)
    same = torch.zeros_like(classes, dtype=torch.bool)
    if offset > 0:
        shifted[offset:], same[offset:] = classes[:-offset], run[offset:] == run[:-offset]
    else:
        shifted[:offset], same[:offset] = classes[-offset:], run[:offset] == run[-offset:]
    return torch.where(same, shifted, EDGE)


def _decode_fragments(items: torch.Tensor, run: torch.Tensor) -> torch.Tensor:
    """Join the bytes of characters split across byte-level pieces into one classed character item (at its
    first byte; its other bytes become _CONTINUATION). Bytes that form no character are OTHER."""
    fragment = items >= _FRAGMENT
    value = torch.where(fragment, items - _FRAGMENT, 0)
    is_continuation = fragment & (value >> 6 == 0b10)
    size = torch.where(value >> 5 == 0b110, 2, torch.where(value >> 4 == 0b1110, 3, torch.where(value >> 3 == 0b11110, 4, 0)))
    size = torch.where(fragment & ~is_continuation, size, 0)
    code = value & torch.where(size == 2, 0x1F, torch.where(size == 3, 0x0F, 0x07))
    complete = size > 0
    for offset in range(1, 4):
        inside = size > offset
        following = torch.full_like(items, -1)
        following[:-offset] = torch.where(run[offset:] == run[:-offset], torch.where(is_continuation[offset:], value[offset:], -1), -1)
        complete &= ~inside | (following >= 0)
        code = torch.where(inside, (code << 6) | (following.clamp(min=0) & 0x3F), code)
    result = torch.where(fragment, OTHER, items)
    starts = complete.nonzero().flatten()
    if starts.numel():
        unique, inverse = torch.unique(code[starts], return_inverse=True)
        classes = torch.tensor([character_class(int(point)) for point in unique.tolist()], dtype=items.dtype)  # distinct split characters only
        result[starts] = classes[inverse]
        for offset in range(1, 4):
            later = starts[size[starts] > offset] + offset
            result[later] = _CONTINUATION
    return result


def batch_word_ids(
    boundaries: WordBoundaries, input_ids: torch.Tensor, maskable: torch.Tensor, given: torch.Tensor | None = None
) -> torch.Tensor:
    """Word ids (B, T) of a padded batch: the pipeline's `word_ids` when given, else derived from the ids.

    Args:
        boundaries: the tokenizer's `WordBoundaries`.
        input_ids: LongTensor (B, T).
        maskable: BoolTensor (B, T), False at specials and padding.
        given: LongTensor (B, T) of word ids kept by the pipeline (-1 = none), or None.

    Returns:
        LongTensor (B, T): 0..W_b-1 per row in order, -1 where not maskable.
    """
    if given is None:
        return boundaries(input_ids, maskable)
    return normalize_word_ids(given.masked_fill(~maskable, -1))
