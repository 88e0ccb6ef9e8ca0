"""Helpers shared by the masking tests (a unique module name: every test folder has a conftest)."""

from __future__ import annotations

from functools import lru_cache

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@lru_cache(maxsize=None)
def wordpiece_tokenizer(num_words: int):
    """A WordPiece tokenizer with specials, `num_words` words, as many "##" pieces and two [unusedN] ids."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = [f"w{i}" for i in range(num_words)]
    pieces = [f"##p{i}" for i in range(num_words)]
    vocab = {token: i for i, token in enumerate(SPECIALS + ["[unused0]", "[unused1]"] + words + pieces)}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def rare_content_ids(tokenizer, counts, low: int, high: int):
    """Ids of whole-word alphabetic tokens of >= 4 letters whose corpus count lies in [low, high]."""
    import torch

    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    alphabetic = torch.tensor([t.isalpha() and len(t) >= 4 for t in tokens])
    return torch.nonzero(alphabetic & (counts >= low) & (counts <= high)).flatten()


def selection(batch: dict, tokenizer):
    """(selected, original ids, maskable) of an MLM batch: what was picked, from what, among which tokens."""
    import torch

    selected = batch["labels"] != -100
    original = torch.where(selected, batch["labels"], batch["input_ids"])
    maskable = batch["attention_mask"].bool() & ~torch.isin(original, torch.tensor(tokenizer.all_special_ids))
    return selected, original, maskable
