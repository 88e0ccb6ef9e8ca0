"""Model presets: sizes, vocabulary from the tokenizer, position limits, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlmkit.data.tokenizer import load_mlm_tokenizer
from mlmkit.errors import MlmkitError
from mlmkit.models.factory import SIZES, build_model, build_model_config


@pytest.fixture(scope="module")
def wordpiece(trained_tokenizers: dict[str, Path]):
    return load_mlm_tokenizer(trained_tokenizers["wordpiece"])


@pytest.fixture(scope="module")
def bpe(trained_tokenizers: dict[str, Path]):
    return load_mlm_tokenizer(trained_tokenizers["bpe"])


def test_presets_take_the_vocabulary_and_specials_from_the_tokenizer(wordpiece, bpe) -> None:
    bert = build_model_config("bert", "mini", wordpiece, 128, {})
    assert (bert.num_hidden_layers, bert.hidden_size, bert.num_attention_heads) == (4, 256, 4)
    assert bert.vocab_size == len(wordpiece) and bert.pad_token_id == wordpiece.pad_token_id
    roberta = build_model_config("roberta", "base", bpe, 512, {"hidden_dropout_prob": 0.0})
    assert roberta.max_position_embeddings == 514  # RoBERTa's positions start after padding_idx
    assert roberta.vocab_size == len(bpe) and roberta.hidden_dropout_prob == 0.0 and roberta.type_vocab_size == 1
    for size, fields in SIZES.items():
        assert fields["hidden_size"] == 64 * fields["num_attention_heads"] == fields["intermediate_size"] // 4, size


def test_the_same_seed_builds_the_same_weights(wordpiece) -> None:
    config = build_model_config("bert", "tiny", wordpiece, 64, {"num_hidden_layers": 1})
    first, second = build_model("bert", config, seed=5), build_model("bert", config, seed=5)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert a.equal(b), name


@pytest.mark.parametrize(
    ("family", "size", "seq_len", "overrides", "message"),
    [
        ("gpt", "tiny", 128, {}, r"model\.family='gpt', must be one of"),
        ("bert", "huge", 128, {}, r"model\.size='huge', must be one of \['tiny', 'mini'"),
        ("bert", "tiny", 128, {"hidden_sise": 64}, r"model\.config\.hidden_sise is not a field of BertConfig; did you mean 'hidden_size'\?"),
        ("bert", "tiny", 128, {"vocab_size": 100}, r"the tokenizer has 2000 ids but the model's vocab_size is 100"),
        ("bert", "tiny", 1024, {"max_position_embeddings": 512}, r"data\.seq_len=1024 needs max_position_embeddings >= 1024 but the model has 512"),
        # RoBERTa's position ids start after padding_idx: pad_token_id + 1 more (the WordPiece [PAD] is 0).
        ("roberta", "tiny", 512, {"max_position_embeddings": 512}, r"needs max_position_embeddings >= 513"),
    ],
)
def test_mismatches_get_clear_errors(wordpiece, family, size, seq_len, overrides, message) -> None:
    with pytest.raises(MlmkitError, match=message):
        build_model_config(family, size, wordpiece, seq_len, overrides)


@pytest.fixture()
def bpe_pad_3(trained_tokenizers: dict[str, Path]):
    """A byte-level BPE tokenizer whose pad id is 3, not RoBERTa's 1."""
    tokenizer = load_mlm_tokenizer(trained_tokenizers["bpe"])
    tokenizer.pad_token = "<unk>"
    assert tokenizer.pad_token_id == 3
    return tokenizer


def test_roberta_positions_follow_the_pad_id(bpe_pad_3) -> None:
    """Issue 18, fault 7: a constant 2 was added, so with pad id 3 and seq_len=512 the first forward failed
    (index 514 is out of bounds); RoBERTa's position ids run from pad_token_id + 1 to pad_token_id + seq_len."""
    import torch

    config = build_model_config("roberta", "tiny", bpe_pad_3, 512, {"num_hidden_layers": 1})
    assert config.max_position_embeddings == 512 + 3 + 1
    model = build_model("roberta", config, seed=0)
    ids = torch.randint(5, len(bpe_pad_3), (1, 512))
    assert model(input_ids=ids, labels=ids).loss.isfinite()


def test_roberta_position_check_uses_the_pad_id(bpe_pad_3) -> None:
    with pytest.raises(MlmkitError, match=r"needs max_position_embeddings >= 516 but the model has 514"):
        build_model_config("roberta", "tiny", bpe_pad_3, 512, {"max_position_embeddings": 514})
