"""Word classes for content schedules: which class (POS-like) each vocabulary id belongs to.

Yang et al. 2023 (PTW) tag words offline with spaCy's 17 UPOS classes. No tagger model can be
downloaded here, so the default tag source works from the token strings alone: punctuation,
numbers, a closed-class English function-word lexicon (determiners, pronouns, prepositions,
conjunctions, auxiliaries, particles), and content words. Users with a real tagger pass
`tagger=callable(word) -> tag`, or `tagger="nltk"` for NLTK's perceptron tagger with the universal
tagset (when its data is installed); either is applied to each vocabulary entry once, out of context,
which approximates in-context tagging at the cost of one call per vocabulary id.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Callable

import torch

from mlmkit.errors import MlmkitError
from mlmkit.data.words import BYTE_LEVEL_WORD_START, METASPACE_WORD_START, WORDPIECE_CONTINUATION

LEXICON_CLASSES = ("punct", "num", "function", "content")

# Closed-class English words (determiners, pronouns, prepositions, conjunctions, auxiliaries, particles).
FUNCTION_WORDS = frozenset(
    """a an the this that these those some any no every each either neither all both half
    i me my mine myself you your yours yourself he him his himself she her hers herself it its itself
    we us our ours ourselves they them their theirs themselves who whom whose which what
    of in on at by for with about against between into through during before after above below to from
    up down out off over under again further than as until while since upon within without along
    among across behind beyond near toward towards via per
    and or but nor so yet if because although though unless whether
    is am are was were be been being have has had having do does did doing will would shall should
    can could may might must ought
    not n't 's 're 've 'd 'll 'm there here then when where why how also just very too only""".split()
)


def _strip_markers(token: str) -> str:
    for marker in (WORDPIECE_CONTINUATION, BYTE_LEVEL_WORD_START, METASPACE_WORD_START):
        token = token.removeprefix(marker)
    return token


def lexicon_class(token: str) -> str:
    """The lexicon class of one vocabulary entry (its word-marker prefix removed)."""
    word = _strip_markers(token).lower()
    if word and all(unicodedata.category(char)[0] in "PS" for char in word):
        return "punct"
    if word and all(char.isdigit() or char in ".,-" for char in word):
        return "num"
    return "function" if word in FUNCTION_WORDS else "content"


def nltk_tags(words: list[str]) -> list[str]:
    """Universal POS tags of single words from NLTK's averaged perceptron tagger."""
    import nltk

    try:
        tagged = nltk.pos_tag_sents([[word] for word in words], tagset="universal")
    except LookupError:
        raise MlmkitError(
            "tagger='nltk' needs NLTK's tagger data, which is not installed: on a machine with internet access run "
            "`python -m nltk.downloader averaged_perceptron_tagger_eng universal_tagset` (or pass tagger=None "
            "for the built-in lexicon classes)"
        ) from None
    return [sentence[0][1] for sentence in tagged]


def word_class_table(
    tokenizer: Any, tagger: Callable[[str], str] | str | None = None
) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Map every vocabulary id to a class index.

    Args:
        tokenizer: a Hugging Face tokenizer; V = len(tokenizer).
        tagger: optional `word -> tag` function (e.g. wrapping spaCy), "nltk", or None for the lexicon.

    Returns:
        LongTensor (V,) of class indices, and the class names in index order.
    """
    tokens = [token or "" for token in tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))]
    if tagger is None:
        tags = [lexicon_class(token) for token in tokens]
        names = LEXICON_CLASSES
    elif tagger == "nltk":
        tags = nltk_tags([_strip_markers(token) or token for token in tokens])
        names = tuple(sorted(set(tags)))
    else:
        tags = [str(tagger(token)) for token in tokens]
        names = tuple(sorted(set(tags)))
    index = {name: i for i, name in enumerate(names)}
    return torch.tensor([index[tag] for tag in tags], dtype=torch.long), names
