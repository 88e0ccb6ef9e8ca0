"""Text-to-text pairs for `mlmkit seq2seq`: a built-in task from any corpus, or the user's JSON lines.

The built-in task, **function-word restoration**, needs no labels: from each sentence of a corpus we
delete the function words (articles, common prepositions, auxiliaries, pronouns, listed in
`FUNCTION_WORDS`) and ask the model to write the full sentence back, the way one expands a
telegram or a headline. It is learnable by a small model in minutes (most target tokens are copied
from the source) yet needs a language model's knowledge to put "the", "of", "was" back in the right
places — which is what MASS pretraining teaches a decoder. Its default corpus is the embedded one
(WikiText-2 valid); pass another file to avoid evaluating on text the model was pretrained on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from mlmkit.data.corpus import read_documents
from mlmkit.errors import MlmkitError
from mlmkit.masking.corruption import IGNORE_INDEX
from mlmkit.text_files import check_utf8

FUNCTION_WORDS = frozenset(
    "a an the of to in on at by for with from and or as is was were are be been that which it its this his her their".split()
)

# WikiText is pre-tokenised ("word , word ."): a sentence ends at a spaced ., ! or ? before a space.
_SENTENCE_END = re.compile(r"(?<= [.!?]) ")


def sentences(documents: Iterable[str], min_words: int = 8, max_words: int = 40) -> Iterator[str]:
    """Sentences of `min_words`..`max_words` whitespace words, from every line of every document."""
    for document in documents:
        for line in document.split("\n"):
            for sentence in _SENTENCE_END.split(line.strip()):
                if min_words <= len(sentence.split()) <= max_words:
                    yield sentence


def strip_function_words(sentence: str) -> str:
    """The sentence without its function words (case-insensitive), other words and spacing kept."""
    return " ".join(word for word in sentence.split() if word.lower() not in FUNCTION_WORDS)


def restoration_pairs(documents: Iterable[str]) -> list[dict[str, str]]:
    """`{"source": stripped sentence, "target": sentence}` for every sentence that loses a word."""
    pairs = []
    for sentence in sentences(documents):
        source = strip_function_words(sentence)
        if source != sentence and source:
            pairs.append({"source": source, "target": sentence})
    return pairs


def split_documents(path: str | Path, eval_fraction: float) -> tuple[list[str], list[str]]:
    """The documents of a corpus file, split into (train, eval): the last `eval_fraction` of them is eval."""
    if not 0.0 < eval_fraction < 1.0:
        raise MlmkitError(f"eval_fraction={eval_fraction} must be in (0, 1), e.g. 0.1 to hold out the last 10% of documents")
    documents = list(read_documents(path))
    cut = len(documents) - max(1, round(eval_fraction * len(documents)))
    if cut < 1:
        raise MlmkitError(f"{str(path)!r} has {len(documents)} document(s); at least 2 are needed to hold some out")
    return documents[:cut], documents[cut:]


def read_pairs(path: str | Path) -> list[dict[str, str]]:
    """JSON lines `{"source": ..., "target": ...}` (other keys ignored); raises MlmkitError naming the bad line."""
    pairs = []
    check_utf8(path, "pairs file")
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                pairs.append({"source": str(row["source"]), "target": str(row["target"])})
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise MlmkitError(
                    f"{str(path)}:{number}: expected a JSON object with 'source' and 'target' strings ({error}); "
                    'write one pair per line, e.g. {"source": "cat sat mat", "target": "the cat sat on the mat"}'
                ) from None
    if not pairs:
        raise MlmkitError(f"{str(path)!r} holds no pairs; write one JSON object per line with 'source' and 'target'")
    return pairs


def encode_pairs(
    tokenizer: Any, pairs: list[dict[str, str]], start_token_id: int, max_source_length: int, max_target_length: int
) -> list[dict[str, list[int]]]:
    """Features for `collate_pairs`: source `input_ids`, and target `labels` without the leading start token.

    The decoder starts from `start_token_id` on its own (BART shifts labels right), so a target
    tokenised as "[CLS] … [SEP]" is trained as "… [SEP]" and generation stops at [SEP].
    """
    sources = tokenizer([pair["source"] for pair in pairs], truncation=True, max_length=max_source_length)["input_ids"]
    targets = tokenizer([pair["target"] for pair in pairs], truncation=True, max_length=max_target_length + 1)["input_ids"]
    features = []
    for source, target in zip(sources, targets):
        labels = target[1:] if target and target[0] == start_token_id else target
        features.append({"input_ids": source, "labels": labels[:max_target_length]})
    return features


def collate_pairs(features: list[dict[str, list[int]]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-padded `input_ids`, `attention_mask` and `labels` (-100 on padding) for a seq2seq model."""
    width = max(len(feature["input_ids"]) for feature in features)
    target_width = max(len(feature["labels"]) for feature in features)
    input_ids = torch.full((len(features), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(features), target_width), IGNORE_INDEX, dtype=torch.long)
    for row, feature in enumerate(features):
        input_ids[row, : len(feature["input_ids"])] = torch.tensor(feature["input_ids"])
        labels[row, : len(feature["labels"])] = torch.tensor(feature["labels"])
    return {"input_ids": input_ids, "attention_mask": (input_ids != pad_token_id).long(), "labels": labels}
