"""Word boundaries: what a word is, for any fast tokenizer, as word ids that masking strategies consume.

A word is a tokenizer fact (DESIGN.md "Word boundaries"), so it is decided here, in the data stage, once:

- The tokenizer's own words: the pieces its pre-tokenizer splits text into, i.e. what `word_ids()` says.
  `mlmkit data prepare` keeps them as the `word_ids` column (`text_word_ids`). When only ids are at hand
  (`transformers.Trainer` drops that column by default), `WordBoundaries` derives the same words from the
  ids: WordPiece from its continuation prefix ("##": a piece without it starts a word); every other model
  (byte-level BPE, Unigram/SentencePiece, ...) from the text each id stands for (byte-level pieces decoded
  to bytes, "▁" read as a space) and the tokenizer's own pre-tokenizer, probed once on every window of four
  character classes (a split may depend on the characters around it, e.g. GPT-2's `\\s+(?!\\S)`). So a
  byte-level piece that ends inside a UTF-8 character never starts a word, and the derived words equal
  `word_ids()` wherever a pre-tokenizer decides by character class (BERT's, mlmkit's three kinds, Metaspace,
  GPT-2's except its English contractions "'s", "'t", ..., which it keeps with the word before).
- One rule for unspaced scripts, whatever the tokenizer: each CJK ideograph (the ranges BERT's tokenizer
  splits, `is_cjk`) is a word of its own, as with BERT's WordPiece, unless a word segmenter gives the
  words (Chinese whole-word masking, Cui et al. 2019: `text_word_ids(..., segmenter=jieba.lcut)`).
  A space before an ideograph stays with it, as it does with any other word of a byte-level BPE.
- Special tokens (`special_token_ids`) and padding belong to no word; no word crosses them.

Word ids are numbered per row 0..W-1 in order of appearance, -1 where a position belongs to no word.
"""

from __future__ import annotations

import itertools
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
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

# Character classes a pre-tokenizer is probed with (one representative each); EDGE = no character
# (the start or end of a run of maskable tokens).
EDGE, SPACE, OTHER_SPACE, ASCII_PUNCT, PUNCT, SYMBOL, LETTER, NUMBER, MARK, CJK, OTHER = range(11)
NUM_CLASSES = 11
REPRESENTATIVES = {
    SPACE: " ", OTHER_SPACE: "\n", ASCII_PUNCT: ",", PUNCT: "\u2014", SYMBOL: "\u00a9",
    LETTER: "a", NUMBER: "1", MARK: "\u0301", CJK: "\u4e2d", OTHER: "\x01",
}
# Prefixes by which vocabularies mark a word-internal piece (WordPiece) or a piece after a space (byte-level
# BPE, SentencePiece/Metaspace), for code that reads token strings (word classes, punctuation tables).
WORDPIECE_CONTINUATION = "##"
BYTE_LEVEL_WORD_START = "\u0120"  # "Ġ"
METASPACE_WORD_START = "\u2581"  # "▁"

_FRAGMENT = 256  # item codes >= this are bytes of a character split across pieces: code - 256
_CONTINUATION = -1  # a byte-level character's later bytes, once the character is decoded


def is_cjk(code_points: np.ndarray) -> np.ndarray:
    """True where a code point is a CJK ideograph (`CJK_RANGES`). Any shape, elementwise."""
    code_points = np.asarray(code_points)
    result = np.zeros(code_points.shape, dtype=bool)
    for low, high in CJK_RANGES:
        result |= (code_points >= low) & (code_points <= high)
    return result


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


def batch_word_ids(
    boundaries: "WordBoundaries", input_ids: torch.Tensor, maskable: torch.Tensor, given: torch.Tensor | None = None
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
        alone = self.isolated[ids] & maskable if bool(self.isolated.any()) else None
        if self.piece_starts is not None:
            starts = self.piece_starts[ids]
            if bool(self.cjk_last.any()):  # a normalizer that does not split ideographs off (BERT's does)
                starts |= _shift(self.cjk_last[ids], 1, False)
        else:
            joinable = maskable if alone is None else maskable & ~alone  # runs of pieces read as one text
            starts = self._junction_starts(ids, joinable)
            rows = (self.split[ids] & joinable).any(dim=1).nonzero().flatten()
            if rows.numel():
                starts[rows] = self._character_starts(ids[rows], joinable[rows])
        if alone is not None:  # an added token is a word of its own
            starts = starts | alone | _shift(alone, 1, False)
        return number_runs(maskable, starts)

    def _junction_starts(self, ids: torch.Tensor, joinable: torch.Tensor) -> torch.Tensor:
        """BoolTensor (B, T): the pre-tokenizer starts a split at the first character of a piece, read from the
        two characters before it and the one after it (exact in rows without split characters)."""
        edges = self.edges[ids]  # (B, T, 4)
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
