"""The statistics file format: round trip, header, and refusals with messages that say how to fix them."""

from __future__ import annotations

import hashlib

import pytest
import torch

from mlmkit.errors import MlmkitError
from mlmkit.stats.artifact import FORMAT_VERSION, load_stats, read_header, save_stats, tokenizer_vocab_hash
from mlmkit.stats.corpus import corpus_fingerprint


@pytest.fixture()
def corpus_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("the cat sat on the mat\nthe dog sat\n", encoding="utf-8")
    return path


def test_round_trip_keeps_tensors_and_header(tokenizer, corpus_file, tmp_path):
    tensors = {"hashes": torch.arange(5, dtype=torch.int64) * (1 << 40), "scores": torch.rand(5), "lengths": torch.tensor([2, 3, 4, 5, 2])}
    path = save_stats(tmp_path / "sub" / "a.safetensors", "pmi", tensors, tokenizer, corpus_fingerprint([corpus_file]), {"min_count": 3})
    loaded = load_stats(path, tokenizer, "pmi")
    for name, tensor in tensors.items():
        assert torch.equal(loaded.tensors[name], tensor)
    header = read_header(path)
    assert header["format_version"] == FORMAT_VERSION and header["strategy"] == "pmi"
    assert header["tokenizer_vocab_hash"] == tokenizer_vocab_hash(tokenizer) and header["options"] == {"min_count": 3}
    assert header["corpus"][0]["sha256"] == hashlib.sha256(corpus_file.read_bytes()).hexdigest()
    assert header["corpus"][0]["bytes"] == corpus_file.stat().st_size and header["created_at"].endswith("+00:00")


def test_refuses_another_tokenizer(tokenizer, minilm_path, corpus_file, tmp_path):
    from transformers import AutoTokenizer

    path = save_stats(tmp_path / "a.safetensors", "rom", {"idf": torch.ones(3)}, tokenizer, corpus_fingerprint([corpus_file]), {})
    other = AutoTokenizer.from_pretrained(str(minilm_path), local_files_only=True)
    other.add_tokens(["zzqxmlmkitword"])
    assert tokenizer_vocab_hash(other) != tokenizer_vocab_hash(tokenizer)
    with pytest.raises(MlmkitError, match=r"built for another tokenizer .*30522 ids.*30523 ids.*mlmkit stats rom --tokenizer"):
        load_stats(path, other, "rom")


def test_refuses_another_strategy_missing_and_foreign_files(tokenizer, corpus_file, tmp_path):
    from safetensors.torch import save_file

    path = save_stats(tmp_path / "a.safetensors", "rom", {"idf": torch.ones(3)}, tokenizer, corpus_fingerprint([corpus_file]), {})
    with pytest.raises(MlmkitError, match=r"holds statistics for strategy 'rom', not 'pmi'"):
        load_stats(path, tokenizer, "pmi")
    with pytest.raises(MlmkitError, match=r"does not exist; build it with `mlmkit stats"):
        load_stats(tmp_path / "missing.safetensors", tokenizer, "rom")
    with pytest.raises(MlmkitError, match=r"needs its corpus statistics: build them with `mlmkit stats informask"):
        load_stats(None, tokenizer, "informask")
    save_file({"x": torch.ones(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(MlmkitError, match=r"has no mlmkit header"):
        load_stats(tmp_path / "plain.safetensors", tokenizer, "rom")
    (tmp_path / "text.safetensors").write_text("not a safetensors file")
    with pytest.raises(MlmkitError, match=r"is not a safetensors statistics file"):
        load_stats(tmp_path / "text.safetensors", tokenizer, "rom")


def test_vocab_hash_is_stable_across_loads(tokenizer, minilm_path):
    from transformers import AutoTokenizer

    again = AutoTokenizer.from_pretrained(str(minilm_path), local_files_only=True)
    assert tokenizer_vocab_hash(again) == tokenizer_vocab_hash(tokenizer)
