"""The one held-out measure: fixed [MASK]-only masks per block, token / whole-word / content-function scores."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from mlmkit.eval.held_out import (
    BLOCK_COLUMNS,
    HeldOutCollator,
    HeldOutMasking,
    function_word_table,
    held_out_baselines,
    score_blocks,
    summarize,
)

TEXTS = [
    "The unbelievable transmitters of the northern kingdom were rebuilt in 1889 .",
    "She said that the committee would not reconsider its earlier decision about the railway .",
    "Photosynthesis converts light energy into chemical energy stored in glucose molecules .",
    "In the second half , the visitors equalised through a header from a corner kick .",
    "Archaeologists uncovered pottery fragments , coins and a well-preserved mosaic floor .",
]


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    return AutoTokenizer.from_pretrained(str(minilm_path), local_files_only=True)


@pytest.fixture(scope="module")
def blocks(tokenizer):
    rows = []
    for text in TEXTS * 4:
        encoded = tokenizer(text)
        rows.append({"input_ids": encoded["input_ids"], "word_ids": [-1 if w is None else w for w in encoded.word_ids()]})
    return rows


def _selections(collator, rows):
    batch = collator(rows)
    return batch["tokens"]["selected"], batch["words"]["selected"]


def test_masks_are_a_function_of_the_block(tokenizer, blocks):
    """Any batch composition, order or split across processes gives every block the same masks."""
    collator = HeldOutCollator(tokenizer)
    tokens, words = _selections(collator, blocks[:5])
    for order in ([4, 2, 0], [1], [3, 0, 2, 4, 1]):
        other_tokens, other_words = _selections(collator, [blocks[i] for i in order])
        for place, index in enumerate(order):
            width = len(blocks[index]["input_ids"])
            assert torch.equal(other_tokens[place, :width], tokens[index, :width])
            assert torch.equal(other_words[place, :width], words[index, :width])
    reseeded_tokens, _ = _selections(HeldOutCollator(tokenizer, masking=HeldOutMasking(seed=1)), blocks[:5])
    assert not torch.equal(reseeded_tokens, tokens)


def test_budgets_and_units(tokenizer, blocks):
    """15% of the maskable tokens per block ([MASK] only); the word view takes whole words (overshoot < 1 word)."""
    batch = HeldOutCollator(tokenizer)(blocks[:5])
    tokens, words = batch["tokens"], batch["words"]
    for row, block in enumerate(blocks[:5]):
        maskable = len(block["input_ids"]) - 2
        budget = max(1, round(0.15 * maskable))
        assert int(tokens["selected"][row].sum()) == budget
        word_ids = torch.tensor(block["word_ids"])
        chosen = set(word_ids[words["selected"][row, : len(word_ids)]].tolist())
        assert all(bool(words["selected"][row, : len(word_ids)][word_ids == w].all()) for w in chosen)
        longest = max(int((word_ids == w).sum()) for w in chosen)
        assert budget <= int(words["selected"][row].sum()) < budget + longest
    assert torch.equal(tokens["model"]["input_ids"][tokens["selected"]], torch.full((int(tokens["selected"].sum()),), tokenizer.mask_token_id))
    assert not bool((tokens["selected"] & (tokens["original_ids"] == tokenizer.cls_token_id)).any())


class _Oracle(torch.nn.Module):
    """A stand-in model module: right exactly where `right(ids)` says, in the module's target order."""

    def __init__(self, right):
        super().__init__()
        self.right = right

    def forward(self, input_ids, attention_mask, labels):
        selected = labels != -100
        targets = labels[selected]
        return {"token_loss": torch.ones(targets.shape), "target_ids": targets, "target_correct": self.right(targets)}


def test_whole_word_accuracy_on_a_constructed_batch(tokenizer):
    """A word counts only if all its pieces are right; pieces of content words count as content."""
    encoded = tokenizer("unbelievable mosaics")
    pieces = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    assert pieces[1:-1] == ["unbelievable", "mosaic", "##s"]
    rows = [{"input_ids": encoded["input_ids"], "word_ids": [-1, 0, 1, 1, -1]}]
    collator = HeldOutCollator(tokenizer, masking=HeldOutMasking(rate=1.0))
    batch = collator(rows)
    mosaic = tokenizer.convert_tokens_to_ids("mosaic")
    from accelerate import Accelerator

    sums = score_blocks(Accelerator(cpu=True), _Oracle(lambda ids: ids != mosaic), [batch], function_word_table(tokenizer))
    values = dict(zip(BLOCK_COLUMNS, sums[0].tolist()))
    assert values["tokens"] == 3 and values["correct"] == 2  # two of three pieces right
    assert values["words"] == 2 and values["words_correct"] == 1  # "mosaics" has a wrong piece
    assert values["content_tokens"] == 3 and values["function_tokens"] == 0
    scores = summarize(sums, {"unigram_accuracy": 0.1, "whole_word_unigram_accuracy": 0.05})
    assert scores["eval_accuracy"] == pytest.approx(2 / 3)
    assert scores["eval_whole_word_accuracy"] == pytest.approx(0.5)


def test_function_words_and_unigram_baseline(tokenizer):
    """Function words are scored apart; the unigram baseline is the most frequent masked token's share."""
    encoded = tokenizer("the cat and the dog")
    rows = [{"input_ids": encoded["input_ids"], "word_ids": [-1, 0, 1, 2, 3, 4, -1]}]
    collator = HeldOutCollator(tokenizer, masking=HeldOutMasking(rate=1.0))
    the = tokenizer.convert_tokens_to_ids("the")
    from accelerate import Accelerator

    sums = score_blocks(Accelerator(cpu=True), _Oracle(lambda ids: ids == the), [collator(rows)], function_word_table(tokenizer))
    values = dict(zip(BLOCK_COLUMNS, sums[0].tolist()))
    assert (values["function_tokens"], values["function_correct"]) == (3, 2)  # the, and, the
    assert (values["content_tokens"], values["content_correct"]) == (2, 0)  # cat, dog
    baselines = held_out_baselines(collator, rows)
    assert baselines == {"unigram_accuracy": pytest.approx(2 / 5), "whole_word_unigram_accuracy": pytest.approx(2 / 5)}
