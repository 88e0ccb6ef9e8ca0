"""What features a collator accepts, and one clear error for the rest (issue 18, faults 5 and 6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mlmkit
from mlmkit.errors import MlmkitError

TEXT = "The capital of France is Paris."


@pytest.mark.parametrize("name", ["random", "whole_word", "span"])
def test_a_one_row_tensor_from_return_tensors_pt_is_read_as_its_row(name, minilm_tokenizer):
    """Fault 5: dict(tok(text, return_tensors="pt")) is (1, L) per column; it crashed inside numpy."""
    collator = mlmkit.build_collator(name, minilm_tokenizer, seed=0)
    collator.set_epoch(0)  # one epoch: the same batch gets the same masks
    as_tensors = collator([dict(minilm_tokenizer(TEXT, return_tensors="pt"))])
    as_lists = collator([dict(minilm_tokenizer(TEXT))])
    for key in ("input_ids", "attention_mask", "labels", "token_type_ids"):
        assert torch.equal(as_tensors[key], as_lists[key]), key
    as_numpy = collator([{key: np.asarray(value) for key, value in minilm_tokenizer(TEXT, return_tensors="np").items()}])
    nested = collator([{key: [value] for key, value in minilm_tokenizer(TEXT).items()}])
    assert torch.equal(as_numpy["labels"], as_lists["labels"]) and torch.equal(nested["labels"], as_lists["labels"])


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda ids: torch.tensor([ids, ids]), r"feature 1: 'input_ids' has shape \(2, 9\)"),
        (lambda ids: torch.tensor([[ids]]), r"feature 1: 'input_ids' has shape \(1, 1, 9\)"),
        (lambda ids: [ids, ids], r"feature 1: 'input_ids' is a list of 2 rows"),
        (lambda ids: ["a", "b"], r"feature 1: 'input_ids' holds str values \('a'\)"),
        (lambda ids: ids[:3] + ["7"], r"feature 1: 'input_ids' holds str values \('7'\)"),
        (lambda ids: ids[:3] + [None, 5], r"feature 1: 'input_ids' holds None \(NoneType\)"),
        (lambda ids: torch.tensor(ids, dtype=torch.float32), r"feature 1: 'input_ids' has dtype torch.float32"),
        (lambda ids: ids[:-1] + [10**6], r"feature 1: input_ids holds 1000000 at position 8, outside the tokenizer's ids 0\.\.30521"),
        (lambda ids: [-5] + ids[1:], r"feature 1: input_ids holds -5 at position 0"),
    ],
)
def test_rows_that_are_not_one_row_of_vocabulary_ids_are_one_clear_error(bad, message, minilm_tokenizer):
    """Fault 5: other shapes, string ids and ids outside the vocabulary name the feature and what to give."""
    ids = minilm_tokenizer(TEXT)["input_ids"]
    assert len(ids) == 9
    collator = mlmkit.build_collator("random", minilm_tokenizer)
    with pytest.raises(MlmkitError, match=message):
        collator([{"input_ids": ids}, {"input_ids": bad(ids)}])


def test_word_ids_without_the_special_tokens_are_an_error_naming_column_and_row(minilm_tokenizer):
    """Fault 6: word_ids from the text without specials (2 shorter) were padded with -1, so with
    mlm_probability=1.0 only 1 of 2 words was predicted and the masks landed on the first tokens."""
    text = "unbelievable transmitters"
    encoded = minilm_tokenizer(text)
    words = minilm_tokenizer(text, add_special_tokens=False).word_ids()
    collator = mlmkit.build_collator("whole_word", minilm_tokenizer, mlm_probability=1.0)
    with pytest.raises(MlmkitError, match=rf"feature 0: column 'word_ids' has {len(words)} values but input_ids has {len(words) + 2}"):
        collator([{"input_ids": encoded["input_ids"], "word_ids": words}])
    right = [-1 if w is None else w for w in encoded.word_ids()]
    batch = collator([{"input_ids": encoded["input_ids"], "word_ids": right}])
    assert int((batch["labels"] != -100).sum()) == len(encoded["input_ids"]) - 2  # both words, every piece


@pytest.mark.parametrize("column, change", [
    ("special_tokens_mask", lambda row: row[:-1]),
    ("attention_mask", lambda row: row[:-2]),
    ("attention_mask", lambda row: row + [1]),
    ("token_type_ids", lambda row: row[1:]),
    ("word_ids", lambda row: row + [3]),
])
def test_every_per_token_column_must_match_input_ids_in_every_row(column, change, minilm_tokenizer):
    """Another input of fault 6's kind: other columns, longer as well as shorter, in the second row."""
    encoded = minilm_tokenizer([TEXT, "Paris is the capital."], return_special_tokens_mask=True)
    features = []
    for row in range(2):
        feature = {key: encoded[key][row] for key in ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask")}
        feature["word_ids"] = [-1 if w is None else w for w in encoded.word_ids(row)]
        features.append(feature)
    features[1][column] = change(features[1][column])
    collator = mlmkit.build_collator("whole_word", minilm_tokenizer)
    with pytest.raises(MlmkitError, match=rf"feature 1: column '{column}' has \d+ values but input_ids has \d+"):
        collator(features)
