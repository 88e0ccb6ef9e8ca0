"""Word boundaries (`mlmkit.data.words`): one definition of a word for every tokenizer kind, equal to the
tokenizer's own `word_ids()`, each CJK ideograph a word unless a segmenter gives the words."""

from __future__ import annotations

import unicodedata

import pytest
import torch
from transformers import AutoTokenizer

import mlmkit
from mlmkit.data.pipeline import prepare_dataset
from mlmkit.errors import MlmkitError
from mlmkit.data.word_boundaries import WordBoundaries
from mlmkit.data.words import CJK_RANGES, is_cjk, normalize_word_ids, special_token_ids, text_word_ids

CHINESE = "我们今天在北京大学学习自然语言处理和机器学习的基本方法"  # 27 ideographs
NON_LATIN = [
    " café Привет",
    "Москва — столица России, а Ёжик живёт в лесу.",
    "naïve façade, Ñandú señor; Ελληνικά κείμενα: αβγ!",
    "emoji 😀 and 👍🏽 or ❤️ in text 🎉🎉",
    CHINESE,
    "He visited 北京 (Beijing) in 2008 ， 然后 returned.",
    "東京タワー is in 東京 ; 서울 is in Korea .",
]


def _tokenizer(trained_tokenizers, kind):
    return AutoTokenizer.from_pretrained(str(trained_tokenizers[kind]))


@pytest.fixture(scope="module")
def multiscript_tokenizers(small_corpus, tmp_path_factory):
    """The three kinds (vocab 2000) trained on WikiText plus the non-Latin sample, so its characters are known."""
    from mlmkit.data.tokenizer import KINDS, train_tokenizer

    root = tmp_path_factory.mktemp("multiscript")
    extra = root / "extra.txt"
    extra.write_text("\n\n".join(NON_LATIN * 3) + "\n", encoding="utf-8")
    for kind in KINDS:
        train_tokenizer([small_corpus, extra], kind, 2000, root / kind, lowercase=kind == "wordpiece", show_progress=False)
    return {kind: root / kind for kind in KINDS}


def _wiki_texts(shared_data, count=600):
    lines = (shared_data / "corpus" / "wikitext-2-raw" / "wiki.valid.raw").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()][:count]


def _ideograph(char: str) -> bool:
    return any(low <= ord(char) <= high for low, high in CJK_RANGES)


def reference_words(encoding, index: int, text: str) -> list[int]:
    """Plain-Python oracle: `word_ids()`, plus a new word at a token that begins its own character at an
    ideograph (no whitespace before it) or right after one. -1 for special tokens."""
    words, word, previous, previous_end = [], -1, None, 0
    for tokenizer_word, (start, end) in zip(encoding.word_ids(index), encoding["offset_mapping"][index]):
        if tokenizer_word is None:
            words.append(-1)
            previous = None
            continue
        own = start >= previous_end and end > start and not text[start].isspace()
        here = start < len(text) and _ideograph(text[start])
        after = start > 0 and _ideograph(text[start - 1])
        ruled = own and (after or (here and not (start > 0 and text[start - 1].isspace())))
        word += int(previous is None or ruled or tokenizer_word != previous)
        words.append(word)
        previous, previous_end = tokenizer_word, end
    return words


def _derived(tokenizer, ids: list[int]) -> list[int]:
    input_ids = torch.tensor([ids])
    maskable = ~torch.isin(input_ids, torch.tensor(special_token_ids(tokenizer)))
    return WordBoundaries.from_tokenizer(tokenizer)(input_ids, maskable)[0].tolist()


def test_byte_level_words_are_not_cut_inside_a_character(trained_tokenizers):
    """Issue 18, fault 3: " café Привет" is 2 words, not 4 units cut at UTF-8 continuation bytes."""
    tokenizer = _tokenizer(trained_tokenizers, "bpe")
    ids = tokenizer(" café Привет", add_special_tokens=False)["input_ids"]
    words = _derived(tokenizer, ids)
    assert max(words) + 1 == 2
    encoding = tokenizer([" café Привет"], add_special_tokens=False)
    assert words == encoding.word_ids(0)


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "unigram"])
def test_derived_words_equal_the_tokenizers_words_on_wikitext_and_other_scripts(kind, multiscript_tokenizers, shared_data):
    """Property over real WikiText (600 lines) and Cyrillic, accented Latin, Greek, emoji, Chinese, Japanese,
    Korean: words derived from ids alone equal the pipeline's words, which equal `word_ids()` (+ the CJK rule)."""
    tokenizer = _tokenizer(multiscript_tokenizers, kind)
    texts = _wiki_texts(shared_data) + NON_LATIN
    encoding = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    pipeline = text_word_ids(encoding, texts)
    expected = [reference_words(encoding, index, text) for index, text in enumerate(texts)]
    for index, text in enumerate(texts):
        assert pipeline[index] == expected[index], text
    # All texts as one padded batch, as the collator sees them: words never cross padding.
    width = max(map(len, expected))
    input_ids = torch.tensor([ids + [tokenizer.pad_token_id] * (width - len(ids)) for ids in encoding["input_ids"]])
    padded = torch.tensor([row + [-1] * (width - len(row)) for row in expected])
    maskable = (padded >= 0) & ~torch.isin(input_ids, torch.tensor(special_token_ids(tokenizer)))
    expected_ids = normalize_word_ids(padded.masked_fill(~maskable, -1))
    derived = WordBoundaries.from_tokenizer(tokenizer)(input_ids, maskable)
    differing = (derived != expected_ids).any(dim=1).nonzero().flatten().tolist()
    assert not differing, [texts[i] for i in differing[:3]]
    words = int((expected_ids.max(dim=1).values + 1).sum())
    assert words > 40_000


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "unigram"])
def test_an_ideograph_is_a_word_for_every_tokenizer_kind(kind, trained_tokenizers, multiscript_tokenizers):
    """Issue 18, fault 4: the 27-ideograph sentence is 27 words for every kind, so whole-word masking at 0.15
    masks about 15% of it (the bpe tokenizer used to see 1 word and mask the whole row)."""
    tokenizer = _tokenizer(trained_tokenizers if kind == "bpe" else multiscript_tokenizers, kind)  # bpe: any, bytes
    ids = tokenizer(CHINESE)["input_ids"]
    words = torch.tensor(_derived(tokenizer, ids))
    # Each piece that begins an ideograph starts a word: 27 words, fewer only where a piece holds two
    # ideographs (the unigram model keeps frequent pairs such as "我们" as one piece).
    pieces_with_an_ideograph = sum(any(is_cjk(ord(c)) for c in token) for token in tokenizer.convert_ids_to_tokens(ids))
    assert int(words.max()) + 1 == (27 if kind != "unigram" else pieces_with_an_ideograph)
    collator = mlmkit.build_collator("whole_word", tokenizer, mlm_probability=0.15, seed=0)
    batch = collator([{"input_ids": ids}] * 8)
    maskable = int((words >= 0).sum())
    budget = round(0.15 * maskable)
    longest_word = int(torch.bincount(words[words >= 0]).max())
    selected = (batch["labels"] != -100).sum(dim=1)
    assert (selected >= budget).all() and (selected < budget + longest_word).all(), selected
    assert float(selected.float().mean()) / maskable < 0.15 + longest_word / maskable


def _segment(text: str) -> list[str]:
    """A deterministic dictionary segmenter (forward maximum matching), standing in for jieba in tests."""
    lexicon = {"我们", "今天", "北京大学", "北京", "大学", "学习", "自然语言处理", "自然", "语言", "处理", "机器学习", "机器", "基本", "方法"}
    words, position = [], 0
    while position < len(text):
        for size in range(6, 0, -1):
            piece = text[position : position + size]
            if size == 1 or piece in lexicon:
                words.append(piece)
                position += size
                break
    return words


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_data_prepare_takes_segmenter_words_for_chinese_whole_word_masking(kind, multiscript_tokenizers, tmp_path):
    """Cui et al. 2019: the segmenter's words are the units; whole_word masks them whole."""
    tokenizer = _tokenizer(multiscript_tokenizers, kind)
    corpus = tmp_path / "zh.txt"
    corpus.write_text(f"{CHINESE}\n\n{CHINESE} ok\n", encoding="utf-8")
    rows = prepare_dataset(tokenizer, seq_len=128, out_dir=tmp_path / "data", corpus_files=[corpus],
                           packed=False, corpus_format="line", segmenter=_segment).dataset
    segmented = _segment(CHINESE)
    encoding = tokenizer([CHINESE], add_special_tokens=False, return_offsets_mapping=True)
    first_word = [None] * len(CHINESE)
    for word, piece in enumerate(segmented):
        start = sum(map(len, segmented[:word]))
        first_word[start : start + len(piece)] = [word] * len(piece)
    expected = [first_word[start] for start, _ in encoding["offset_mapping"][0]]
    row = rows[0]
    words = [w for w in row["word_ids"] if w >= 0]
    assert normalize_word_ids(torch.tensor([words])).tolist()[0] == normalize_word_ids(torch.tensor([expected])).tolist()[0]
    assert max(words) + 1 == len(segmented) == 11
    collator = mlmkit.build_collator("whole_word", tokenizer, mlm_probability=0.3, seed=1)
    batch = collator([{k: row[k] for k in ("input_ids", "attention_mask", "special_tokens_mask", "word_ids")}] * 16)
    word_ids = torch.tensor(row["word_ids"])
    for labels in batch["labels"]:
        picked = set(word_ids[labels != -100].tolist())
        assert all(bool((labels[word_ids == w] != -100).all()) for w in picked)  # segmenter words masked whole


def test_a_segmenter_that_returns_other_text_is_an_error(trained_tokenizers):
    tokenizer = _tokenizer(trained_tokenizers, "bpe")
    encoding = tokenizer([CHINESE], add_special_tokens=False, return_offsets_mapping=True)
    with pytest.raises(MlmkitError, match="not the next piece"):
        text_word_ids(encoding, [CHINESE], segmenter=lambda text: ["北京", "我们"])


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "unigram"])
def test_an_added_special_token_is_special_everywhere(kind, trained_tokenizers):
    """One definition of "special": AddedToken(special=True) added with add_tokens is never selected, never a
    random replacement and belongs to no word (it used to be selectable but excluded from replacement)."""
    from tokenizers import AddedToken

    tokenizer = _tokenizer(trained_tokenizers, kind)
    tokenizer.add_tokens([AddedToken("<ent>", special=True), AddedToken("plainadded", special=False)])
    special, plain = tokenizer.convert_tokens_to_ids(["<ent>", "plainadded"])
    assert special in special_token_ids(tokenizer) and plain not in special_token_ids(tokenizer)
    ids = tokenizer("the <ent> cat plainadded sat on the mat <ent> .")["input_ids"]
    assert special in ids and plain in ids
    for name in ("random", "whole_word", "span"):
        collator = mlmkit.build_collator(name, tokenizer, mlm_probability=1.0, seed=0)
        assert special not in collator.replacement_ids.tolist()
        batch = collator([{"input_ids": ids}] * 4)
        labels = batch["labels"]
        assert not (labels == special).any() and (labels == plain).all(dim=0).any()
    words = _derived(tokenizer, ids)
    assert words[ids.index(special)] == -1
    position = ids.index(plain)
    assert words[position] not in (words[position - 1], words[position + 1])  # an added token is a word of its own


def test_words_never_cross_special_tokens_or_padding():
    from mlmkit.data.words import number_runs

    valid = torch.tensor([[False, True, True, False, True, True, True, False]])
    starts = torch.tensor([[True, True, False, True, False, False, True, True]])
    assert number_runs(valid, starts).tolist() == [[-1, 0, 0, -1, 1, 1, 2, -1]]


def test_normalize_word_ids_renumbers_restarting_documents():
    word_ids = torch.tensor([[-1, 0, 0, 1, -1, 0, 1, 1, -1], [-1, 5, 5, 7, 7, -1, -1, -1, -1]])
    assert normalize_word_ids(word_ids).tolist() == [[-1, 0, 0, 1, -1, 2, 3, 3, -1], [-1, 0, 0, 1, 1, -1, -1, -1, -1]]


def test_a_slow_tokenizer_is_refused_with_a_fix():
    class Slow:
        is_fast = False

    with pytest.raises(MlmkitError, match="fast tokenizer"):
        WordBoundaries.from_tokenizer(Slow())


def test_character_classes_follow_unicode():
    from mlmkit.data.word_boundaries import ASCII_PUNCT, CJK, LETTER, SPACE, SYMBOL, character_class

    assert [character_class(ord(c)) for c in " a,中©"] == [SPACE, LETTER, ASCII_PUNCT, CJK, SYMBOL]
    assert unicodedata.category("é") == "Ll" and character_class(ord("é")) == LETTER


def test_the_cli_segmenter_option_names_a_function_or_says_what_to_fix():
    from mlmkit.cli.data import load_segmenter

    assert callable(load_segmenter("textwrap:wrap"))
    with pytest.raises(MlmkitError, match=r"--segmenter 'jieba' must be MODULE:FUNCTION, e.g. jieba:lcut"):
        load_segmenter("jieba")
    with pytest.raises(MlmkitError, match=r"could not be loaded .* install the module \(pip install no_such_segmenter\)"):
        load_segmenter("no_such_segmenter:cut")
