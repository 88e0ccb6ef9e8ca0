"""Tokenizer training: loading as a fast tokenizer, round trips, word ids, and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from mlmkit.data.tokenizer import KINDS, SPECIAL_TOKENS, load_mlm_tokenizer, train_tokenizer
from mlmkit.errors import MlmkitError


def leftovers(folder: Path) -> list[str]:
    """Names of temporary folders an interrupted write would leave beside its output."""
    return [path.name for path in folder.iterdir() if ".partial-" in path.name or ".old-" in path.name]


@pytest.mark.parametrize("kind", KINDS)
def test_saved_folder_loads_with_autotokenizer(kind, trained_tokenizers):
    tokenizer = AutoTokenizer.from_pretrained(str(trained_tokenizers[kind]), local_files_only=True)
    assert tokenizer.is_fast
    assert len(tokenizer) == 2000
    roles = SPECIAL_TOKENS[kind]
    assert tokenizer.mask_token == roles["mask_token"] and tokenizer.pad_token == roles["pad_token"]
    ids = tokenizer("a b")["input_ids"]
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    pair = tokenizer("a", "b")["input_ids"]
    assert pair.count(tokenizer.sep_token_id) == (3 if kind == "bpe" else 2)  # RoBERTa: <s> A </s></s> B </s>


def normalised(kind: str, text: str, reference_words) -> str:
    """What decode(encode(text)) must give: bpe is lossless; unigram collapses whitespace;
    uncased wordpiece lowercases and puts one space between words (punctuation is a word)."""
    if kind == "bpe":
        return text
    if kind == "unigram":
        return " ".join(text.split())
    return " ".join(reference_words(text.lower()))


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_ascii(kind, trained_tokenizers, ascii_paragraphs, word_reference, small_corpus):
    reference_words, _ = word_reference
    tokenizer = AutoTokenizer.from_pretrained(str(trained_tokenizers[kind]))
    alphabet = set(small_corpus.read_text(encoding="utf-8").lower() + small_corpus.read_text(encoding="utf-8"))
    texts = [text for text in ascii_paragraphs if set(text) <= alphabet]  # no [UNK] from unseen characters
    texts.append("  Don't stop:  3.5 km, (quick) fox!\n")
    assert len(texts) >= 20
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.decode(ids, skip_special_tokens=True) == normalised(kind, text, reference_words)


@pytest.mark.parametrize("kind", KINDS)
def test_word_ids_match_whitespace_punctuation_words(kind, trained_tokenizers, ascii_paragraphs, word_reference):
    reference_words, words_from_word_ids = word_reference
    tokenizer = AutoTokenizer.from_pretrained(str(trained_tokenizers[kind]))
    texts = ascii_paragraphs + ["Don't stop: 3.5 km, abc123 (quick) fox!", "@-@ x@,@y"]
    encodings = tokenizer(texts)
    for index, text in enumerate(texts):
        words = words_from_word_ids(text, encodings[index])
        expected = reference_words(text.lower() if kind == "wordpiece" else text)
        assert [word.lower() if kind == "wordpiece" else word for word in words] == expected


def test_minilm_word_ids_match_whitespace_punctuation_words(minilm_path, ascii_paragraphs, word_reference):
    reference_words, words_from_word_ids = word_reference
    tokenizer = load_mlm_tokenizer(minilm_path)
    encodings = tokenizer(ascii_paragraphs, truncation=False, verbose=False)
    for index, text in enumerate(ascii_paragraphs):
        assert [word.lower() for word in words_from_word_ids(text, encodings[index])] == reference_words(text.lower())


def test_cased_wordpiece_keeps_case(small_corpus, tmp_path):
    tokenizer = train_tokenizer([small_corpus], "wordpiece", 1000, tmp_path / "tok", show_progress=False).tokenizer
    assert tokenizer.decode(tokenizer("The Bill")["input_ids"], skip_special_tokens=True) == "The Bill"


def test_missing_corpus_file_is_named(tmp_path):
    with pytest.raises(MlmkitError, match=r"corpus file '.*nope\.txt' does not exist"):
        train_tokenizer([tmp_path / "nope.txt"], "bpe", 1000, tmp_path / "tok", show_progress=False)
    assert not (tmp_path / "tok").exists()


@pytest.mark.parametrize("content", ["", " \n\n  \n"])
def test_empty_corpus(content, tmp_path):
    corpus = tmp_path / "empty.txt"
    corpus.write_text(content)
    with pytest.raises(MlmkitError, match=r"corpus file '.*empty\.txt' is empty"):
        train_tokenizer([corpus], "wordpiece", 1000, tmp_path / "tok", show_progress=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty.txt"]


@pytest.mark.parametrize("kind", KINDS)
def test_vocab_smaller_than_alphabet_names_the_minimum(kind, small_corpus, tmp_path):
    with pytest.raises(MlmkitError, match=r"smaller than the alphabet .* needs at least (\d+) entries") as caught:
        train_tokenizer([small_corpus], kind, 100, tmp_path / "tok", show_progress=False)
    assert not (tmp_path / "tok").exists() and not leftovers(tmp_path)
    minimum = int(caught.value.args[0].split("needs at least ")[1].split()[0])
    if kind == "bpe":
        assert minimum == 256 + 5  # every byte plus the specials
    tokenizer = train_tokenizer([small_corpus], kind, minimum, tmp_path / "tok", show_progress=False).tokenizer
    assert len(tokenizer) == minimum  # the minimum we name is enough


def test_bad_kind_and_output_folder_trouble(small_corpus, tmp_path):
    with pytest.raises(MlmkitError, match="unknown tokenizer kind 'sentencepiece'; choose one of wordpiece, bpe, unigram"):
        train_tokenizer([small_corpus], "sentencepiece", 1000, tmp_path / "tok")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(MlmkitError, match="is a file, not a folder"):
        train_tokenizer([small_corpus], "bpe", 1000, a_file)
    with pytest.raises(MlmkitError, match="parent folder .* does not exist"):
        train_tokenizer([small_corpus], "bpe", 1000, tmp_path / "missing" / "tok")
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    with pytest.raises(MlmkitError, match="already exists and is not empty; .* --overwrite"):
        train_tokenizer([small_corpus], "bpe", 1000, full)
    assert [path.name for path in full.iterdir()] == ["keep.txt"]
    assert not train_tokenizer([small_corpus], "bpe", 1000, full, overwrite=True, show_progress=False).reused
    assert not (full / "keep.txt").exists() and (full / "tokenizer.json").is_file() and not leftovers(tmp_path)
    again = train_tokenizer([small_corpus], "bpe", 1000, full, show_progress=False)  # same inputs: reused
    assert again.reused and len(again.tokenizer) == 1000
    with pytest.raises(MlmkitError, match="already exists and is not empty"):
        train_tokenizer([small_corpus], "bpe", 900, full)


def test_tokenizer_without_mask_token_is_rejected(trained_tokenizers, tmp_path):
    folder = tmp_path / "no-mask"
    AutoTokenizer.from_pretrained(str(trained_tokenizers["wordpiece"])).save_pretrained(str(folder))
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    del config["mask_token"]
    config_path.write_text(json.dumps(config))
    with pytest.raises(MlmkitError, match=r"tokenizer '.*no-mask' has no mask token; masked-LM pretraining needs one"):
        load_mlm_tokenizer(folder)
    with pytest.raises(MlmkitError, match="does not exist"):
        load_mlm_tokenizer(tmp_path / "nowhere")


@pytest.mark.parametrize("kind", KINDS)
def test_saved_tokenizers_name_a_class_transformers_4_also_has(kind, trained_tokenizers, tmp_path):
    """transformers 4.x cannot load "TokenizersBackend" (5.x's name); "PreTrainedTokenizerFast" loads in both
    (.ci/tokenizer_transformers4.py loads these folders in a transformers 4.x venv)."""
    from transformers import PreTrainedTokenizerFast

    from mlmkit.data.tokenizer import save_tokenizer

    folder = trained_tokenizers[kind]
    assert json.loads((folder / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    generic = PreTrainedTokenizerFast.from_pretrained(str(folder))
    auto = load_mlm_tokenizer(folder)
    text = "Unaffable people don't smile; they <mask> [MASK] grimace!"
    assert generic(text).input_ids == auto(text).input_ids and generic(text).word_ids() == auto(text).word_ids()
    assert generic.mask_token == auto.mask_token and generic.pad_token_id == auto.pad_token_id
    save_tokenizer(auto, tmp_path / "again")  # a reloaded tokenizer, as checkpoints save it
    assert json.loads((tmp_path / "again" / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
