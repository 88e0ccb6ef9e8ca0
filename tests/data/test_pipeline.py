"""Data preparation: packed and unpacked rows, token counts, word ids, splits, cache and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from transformers import AutoTokenizer

from mlmkit.data.corpus import read_documents
from mlmkit.data.packing import SpecialIds, StreamPacker, local_word_ids
from mlmkit.data.pipeline import SystematicSample, check_seq_len, prepare_dataset
from mlmkit.data.tokenizer import KINDS, load_mlm_tokenizer
from mlmkit.errors import MlmkitError

SEQ_LEN = 64


def document_tokens(tokenizer, documents):
    """Token ids and document-level words (`word_ids()`, each CJK ideograph a word: tests/data/test_words.py)."""
    from mlmkit.data.words import encode_words

    return encode_words(tokenizer, documents)


def check_word_ids(rows):
    """Block-local word ids: -1 exactly on specials, 0, 1, 2 ... in order, and a new word after every special."""
    for row in rows:
        words, special = np.array(row["word_ids"]), np.array(row["special_tokens_mask"]).astype(bool)
        assert ((words == -1) == special).all()
        content = words[~special]
        if len(content):
            assert content[0] == 0 and set(np.diff(content)) <= {0, 1}
        after_special = np.flatnonzero(special[:-1] & ~special[1:]) + 1
        before = [words[: index][words[:index] >= 0] for index in after_special]
        assert all(len(b) == 0 or words[index] == b[-1] + 1 for b, index in zip(before, after_special))


@pytest.mark.parametrize("kind", KINDS)
def test_packed_rows_lose_no_token_and_keep_words(kind, trained_tokenizers, small_corpus, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(str(trained_tokenizers[kind]))
    result = prepare_dataset(tokenizer, seq_len=SEQ_LEN, out_dir=tmp_path / "data", corpus_files=[small_corpus])
    rows = result.dataset
    assert not result.reused and set(rows.column_names) == {"input_ids", "attention_mask", "special_tokens_mask", "word_ids"}
    assert all(len(ids) == SEQ_LEN for ids in rows["input_ids"])
    assert all(ids[0] == tokenizer.cls_token_id for ids in rows["input_ids"])
    # The rows, without their leading CLS and padding, are exactly doc1 SEP doc2 SEP ...
    documents = list(read_documents(small_corpus))
    ids, words = document_tokens(tokenizer, documents)
    expected = [token for document in ids for token in document + [tokenizer.sep_token_id]]
    flat = [token for row, mask in zip(rows["input_ids"], rows["attention_mask"]) for token, keep in zip(row[1:], mask[1:]) if keep]
    assert flat == expected
    assert result.stats["corpus_tokens"] == sum(map(len, ids)) == result.stats["content_tokens_in_rows"]
    assert sum(sum(mask) == SEQ_LEN for mask in rows["attention_mask"]) == len(rows) - 1  # only the last row is padded
    check_word_ids(rows)
    # Each block-local word is one piece of one document-level word (no word spans a separator).
    stream_words = [(doc, word) for doc, document in enumerate(words) for word in document + [None]]
    body = SEQ_LEN - 1
    for row_index, row in enumerate(rows):
        segment = stream_words[row_index * body : (row_index + 1) * body]
        pairs = {(local, source) for local, source in zip(row["word_ids"][1:], segment) if local >= 0}
        assert len({local for local, _ in pairs}) == len(pairs) == len({source for _, source in pairs})


def test_unpacked_rows_split_long_documents(trained_tokenizers, small_corpus, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(str(trained_tokenizers["bpe"]))
    result = prepare_dataset(tokenizer, seq_len=SEQ_LEN, out_dir=tmp_path / "data", corpus_files=[small_corpus], packed=False, num_proc=2)
    rows = result.dataset
    documents = list(read_documents(small_corpus))
    ids, _ = document_tokens(tokenizer, documents)
    assert len(rows) == sum(-(-len(document) // (SEQ_LEN - 2)) for document in ids) > len(documents)
    flat = []
    for row, special in zip(rows["input_ids"], rows["special_tokens_mask"]):
        content = [token for token, is_special in zip(row, special) if not is_special]
        assert row[0] == tokenizer.cls_token_id and row[len(content) + 1] == tokenizer.sep_token_id
        assert all(token == tokenizer.pad_token_id for token in row[len(content) + 2 :])
        flat += content
    assert flat == [token for document in ids for token in document]
    check_word_ids(rows)


def test_validation_split_by_document_and_cache(trained_tokenizers, small_corpus, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(str(trained_tokenizers["unigram"]))
    options = dict(seq_len=SEQ_LEN, out_dir=tmp_path / "data", corpus_files=[small_corpus], validation_fraction=0.2, seed=3)
    first = prepare_dataset(tokenizer, **options)
    assert set(first.dataset) == {"train", "validation"}
    n_documents = len(list(read_documents(small_corpus)))
    stats = first.stats
    assert stats["train"]["documents"] + stats["validation"]["documents"] == n_documents
    assert stats["validation"]["documents"] in (math.floor(0.2 * n_documents), math.ceil(0.2 * n_documents))
    ids, _ = document_tokens(tokenizer, list(read_documents(small_corpus)))
    assert stats["train"]["corpus_tokens"] + stats["validation"]["corpus_tokens"] == sum(map(len, ids))
    second = prepare_dataset(tokenizer, **options)
    assert second.reused and second.stats == first.stats
    assert second.dataset["validation"]["input_ids"] == first.dataset["validation"]["input_ids"]
    with pytest.raises(MlmkitError, match="not prepared from these inputs and options; .* --overwrite"):
        prepare_dataset(tokenizer, **{**options, "seq_len": 32})
    third = prepare_dataset(tokenizer, **{**options, "seq_len": 32}, overwrite=True)
    assert not third.reused and len(third.dataset["train"][0]["input_ids"]) == 32
    assert [path.name for path in tmp_path.iterdir()] == ["data"]  # no temporary folders left


@pytest.mark.parametrize("fraction", [0.05, 0.2, 1 / 3])
def test_systematic_sample_holds_out_an_exact_share_whatever_the_batches(fraction):
    whole = SystematicSample(fraction, seed=5).take(1000)
    sampler = SystematicSample(fraction, seed=5)
    in_batches = np.concatenate([sampler.take(size) for size in (1, 7, 300, 2, 690)])
    assert np.array_equal(whole, in_batches)
    for n in range(1, 1001):  # every prefix holds out floor or ceil of fraction x n
        assert math.floor(fraction * n) <= whole[:n].sum() <= math.ceil(fraction * n)
    gaps = np.diff(np.flatnonzero(whole))
    assert set(gaps) <= {math.floor(1 / fraction), math.ceil(1 / fraction)}  # evenly spread
    others = [SystematicSample(fraction, seed=seed).take(1000) for seed in range(6)]
    assert len({chosen.tobytes() for chosen in others}) > 1  # the seed moves the sample


def test_changed_corpus_content_is_not_reused(trained_tokenizers, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(str(trained_tokenizers["wordpiece"]))
    corpus = tmp_path / "c.txt"
    corpus.write_text("one document here\n\nanother one\n")
    prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "data", corpus_files=[corpus])
    corpus.write_text("one document here\n\nanother two\n")
    with pytest.raises(MlmkitError, match="not prepared from these inputs"):
        prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "data", corpus_files=[corpus])


def test_special_token_text_in_corpus_stays_text(trained_tokenizers, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(str(trained_tokenizers["wordpiece"]))
    corpus = tmp_path / "c.txt"
    corpus.write_text("a [MASK] and a [SEP] in the text\n")
    rows = prepare_dataset(tokenizer, seq_len=32, out_dir=tmp_path / "data", corpus_files=[corpus]).dataset
    assert tokenizer.mask_token_id not in rows[0]["input_ids"]
    assert rows[0]["input_ids"].count(tokenizer.sep_token_id) == 1  # only the document separator


def test_dataset_folder_input_and_minilm(minilm_path, tmp_path, word_reference):
    import datasets

    reference_words, _ = word_reference
    texts = ["The quick brown fox , jumped over the lazy dog .", "", "Unaffable people don't smile; they grimace!"]
    datasets.Dataset.from_dict({"text": texts, "label": [0, 1, 2]}).save_to_disk(str(tmp_path / "raw"))
    tokenizer = load_mlm_tokenizer(minilm_path)
    rows = prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "data", dataset=str(tmp_path / "raw")).dataset
    words, current = [], None
    for row in rows:
        for token, word in zip(row["input_ids"], row["word_ids"]):
            if word >= 0:
                piece = tokenizer.convert_ids_to_tokens(token)
                if word == current and words:
                    words[-1] += piece.removeprefix("##")
                else:
                    words.append(piece)
                current = word
        current = None
    # Words cut at a row edge appear as two partial words; glue by comparing the joined text.
    assert "".join(words) == "".join(reference_words(" ".join(texts).lower()))
    with pytest.raises(MlmkitError, match="dataset has no column 'sentence' and no 'input_ids'"):
        prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "x", dataset=str(tmp_path / "raw"), text_column="sentence")


def test_seq_len_checks(trained_tokenizers, small_corpus, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(str(trained_tokenizers["bpe"]))
    with pytest.raises(MlmkitError, match="--seq-len 1024 is larger than the tokenizer's model_max_length 512"):
        prepare_dataset(tokenizer, seq_len=1024, out_dir=tmp_path / "data", corpus_files=[small_corpus])
    with pytest.raises(MlmkitError, match="larger than the model's max_position_embeddings 128"):
        check_seq_len(tokenizer, 256, max_position_embeddings=128)
    with pytest.raises(MlmkitError, match="too short"):
        check_seq_len(tokenizer, 2)
    assert not (tmp_path / "data").exists()


def test_stream_packer_on_row_edges():
    special = SpecialIds(cls=1, sep=2, pad=0)
    packer = StreamPacker(seq_len=5, special=special)  # 4 stream tokens per row
    ids, words, offsets = np.array([7, 8, 9, 10, 11, 12, 13]), np.array([0, 0, 1, 0, 1, 1, 2]), np.array([0, 3, 7])
    rows = packer.add(ids, words, offsets)  # stream: 7 8 9 SEP 10 11 12 13 SEP
    assert rows.input_ids.tolist() == [[1, 7, 8, 9, 2], [1, 10, 11, 12, 13]]
    assert rows.word_ids.tolist() == [[-1, 0, 0, 1, -1], [-1, 0, 1, 1, 2]]
    last = packer.finish()
    assert last.input_ids.tolist() == [[1, 2, 0, 0, 0]] and last.attention_mask.tolist() == [[1, 1, 0, 0, 0]]
    assert last.special_tokens_mask.tolist() == [[1, 1, 1, 1, 1]] and len(packer.finish()) == 0
    assert local_word_ids(np.array([[5, 5, -1, 5, 6, 6]])).tolist() == [[0, 0, -1, 1, 2, 2]]


@pytest.mark.parametrize("source", ["wordpiece", "minilm"])
def test_wordpiece_word_ids_equal_those_derived_from_the_vocabulary(source, trained_tokenizers, minilm_path, small_corpus, tmp_path):
    """After Trainer drops `word_ids`, the collator derives words from the ids: they must be the same words."""
    import torch

    from mlmkit.data.word_boundaries import WordBoundaries

    tokenizer = load_mlm_tokenizer(minilm_path if source == "minilm" else trained_tokenizers["wordpiece"])
    rows = prepare_dataset(tokenizer, seq_len=128, out_dir=tmp_path / "data", corpus_files=[small_corpus]).dataset
    input_ids, word_ids = torch.tensor(rows["input_ids"]).long(), torch.tensor(rows["word_ids"]).long()
    maskable = ~torch.tensor(rows["special_tokens_mask"]).bool()
    assert torch.equal(WordBoundaries.from_tokenizer(tokenizer)(input_ids, maskable), word_ids)


def test_pretokenized_dataset_gets_word_ids_from_the_vocabulary(minilm_path, tmp_path):
    import datasets

    tokenizer = load_mlm_tokenizer(minilm_path)
    texts = ["The quick brown fox , jumped over the lazy dog .", "Unaffable people don't smile; they grimace!"]
    encoded = tokenizer(texts)  # with [CLS] ... [SEP]: packing drops them and adds its own
    datasets.Dataset.from_dict({"input_ids": encoded["input_ids"]}).save_to_disk(str(tmp_path / "ids"))
    result = prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "data", dataset=str(tmp_path / "ids"))
    from_text = prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "text", dataset=datasets.Dataset.from_dict({"text": texts}))
    assert result.dataset["input_ids"] == from_text.dataset["input_ids"]
    assert result.dataset["word_ids"] == from_text.dataset["word_ids"]
    datasets.Dataset.from_dict({"input_ids": [[101, 102], [101]]}).save_to_disk(str(tmp_path / "specials"))
    with pytest.raises(MlmkitError, match="the input has no tokens"):
        prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "x", dataset=str(tmp_path / "specials"))
    datasets.Dataset.from_dict({"input_ids": [[101, 99999]]}).save_to_disk(str(tmp_path / "big"))
    with pytest.raises(MlmkitError, match="input_ids go up to 99999 but the tokenizer has 30522 tokens"):
        prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "x", dataset=str(tmp_path / "big"))
    assert not (tmp_path / "x").exists()


def test_a_script_without_a_main_guard_gets_one_line_on_what_to_do(trained_tokenizers, small_corpus, tmp_path):
    """The README's streaming example run as a script without `if __name__ == "__main__":` ended in
    BrokenProcessPool after 8 worker tracebacks (spawned workers import the script and start it again)."""
    import subprocess
    import sys

    script = tmp_path / "prepare.py"
    script.write_text(
        "from mlmkit.data.pipeline import prepare_dataset\n"
        "from mlmkit.data.tokenizer import load_mlm_tokenizer\n"
        "from mlmkit.errors import MlmkitError\n"
        f"tokenizer = load_mlm_tokenizer({str(trained_tokenizers['wordpiece'])!r})\n"
        "try:\n"
        f"    prepare_dataset(tokenizer, seq_len=32, out_dir={str(tmp_path / 'data')!r}, corpus_files=[{str(small_corpus)!r}], num_proc=2)\n"
        "except MlmkitError as error:\n"
        "    print('MLMKIT', error)\n",
        encoding="utf-8",
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert "MLMKIT a tokenizer worker process stopped (num_proc=2" in done.stdout, done.stdout + done.stderr[-2000:]
    assert 'if __name__ == "__main__":' in done.stdout
