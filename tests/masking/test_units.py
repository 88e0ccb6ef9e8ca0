"""Word conventions of the three vocabulary families, word numbering, and the budget rule."""

from __future__ import annotations

import torch

from mlmkit.masking import derive_word_ids, normalize_word_ids, token_budget, word_start_table


class FakeTokenizer:
    """Just what word_start_table reads: a vocabulary and its special ids."""

    def __init__(self, tokens: list[str], special: list[int]) -> None:
        self.tokens, self.all_special_ids = tokens, special

    def __len__(self) -> int:
        return len(self.tokens)

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return [self.tokens[i] for i in ids]


def test_wordpiece_words_start_without_hashes(minilm_tokenizer):
    table = word_start_table(minilm_tokenizer)
    ids = minilm_tokenizer("unbelievably philammon", add_special_tokens=False)["input_ids"]
    tokens = minilm_tokenizer.convert_ids_to_tokens(ids)
    assert table[ids].tolist() == [not t.startswith("##") for t in tokens]
    assert bool(table[minilm_tokenizer.all_special_ids].all())


def test_byte_level_bpe_words_start_with_g_or_punctuation():
    tokens = ["<s>", "</s>", "\u0120the", "un", "\u0120be", "lievable", ",", "!!", "\u0120,"]
    table = word_start_table(FakeTokenizer(tokens, [0, 1]))
    assert table.tolist() == [True, True, True, False, True, False, True, True, True]


def test_metaspace_words_start_with_underscore_or_punctuation():
    tokens = ["<pad>", "\u2581the", "re", "\u2581un", "believ", "able", ".", "\u2581"]
    table = word_start_table(FakeTokenizer(tokens, [0]))
    assert table.tolist() == [True, True, False, True, False, False, True, True]


def test_derived_words_restart_after_specials_and_never_cross_them():
    start_table = torch.tensor([True, True, False])  # id 0: special, id 1: word start, id 2: continuation
    input_ids = torch.tensor([[0, 2, 1, 2, 0, 2, 2, 1, 0]])
    maskable = input_ids != 0
    assert derive_word_ids(input_ids, maskable, start_table).tolist() == [[-1, 0, 1, 1, -1, 2, 2, 3, -1]]


def test_normalize_word_ids_renumbers_restarting_documents():
    word_ids = torch.tensor([[-1, 0, 0, 1, -1, 0, 1, 1, -1], [-1, 5, 5, 7, 7, -1, -1, -1, -1]])
    assert normalize_word_ids(word_ids).tolist() == [[-1, 0, 0, 1, -1, 2, 3, 3, -1], [-1, 0, 0, 1, 1, -1, -1, -1, -1]]


def test_budget_rounds_and_keeps_at_least_one():
    maskable = torch.arange(100).unsqueeze(0) < torch.tensor([[0], [1], [5], [10], [100]])
    assert token_budget(maskable, 0.15).tolist() == [0, 1, 1, 2, 15]
    assert token_budget(maskable, torch.tensor([0.5, 0.5, 0.5, 0.5, 1.0], dtype=torch.float64)).tolist() == [0, 1, 2, 5, 100]
