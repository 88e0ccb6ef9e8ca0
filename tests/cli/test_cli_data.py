"""`mlmkit tokenizer train` and `mlmkit data prepare` end to end: success, cache reuse, and exit 2 on bad input."""

from __future__ import annotations

import json

import pytest

from mlmkit.cli import main


def entries(folder):
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.parametrize("command", [["tokenizer", "train"], ["data", "prepare"], ["tokenizer"], ["data"]])
def test_help_has_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "Example:\n  mlmkit " in capsys.readouterr().out


def test_train_then_prepare_then_reuse(small_corpus, tmp_path, capsys):
    tokenizer = tmp_path / "tok"
    train = ["tokenizer", "train", "--corpus", str(small_corpus), "--kind", "bpe", "--vocab-size", "1000", "--out", str(tokenizer)]
    assert main(train) == 0
    assert "saved a bpe tokenizer with 1000 tokens (mask token <mask>)" in capsys.readouterr().out
    assert main(train) == 0
    assert capsys.readouterr().out.startswith("reused (same corpus and options) a bpe tokenizer")
    arguments = ["data", "prepare", "--tokenizer", str(tokenizer), "--corpus", str(small_corpus), "--seq-len", "64", "--out", str(tmp_path / "data")]
    assert main([*arguments, "--validation-fraction", "0.1"]) == 0
    assert capsys.readouterr().out.startswith("saved ")
    assert main([*arguments, "--validation-fraction", "0.1"]) == 0
    assert capsys.readouterr().out.startswith("reused (same inputs and options) ")
    record = json.loads((tmp_path / "data" / "mlmkit_prepare.json").read_text())
    assert record["stats"]["train"]["corpus_tokens"] == record["stats"]["train"]["content_tokens_in_rows"] > 0
    assert entries(tmp_path) == ["data", "tok"]


def test_default_corpus_is_the_embedded_one(tmp_path, capsys):
    assert main(["tokenizer", "train", "--kind", "wordpiece", "--vocab-size", "600", "--out", str(tmp_path / "tok")]) == 0
    assert "saved a wordpiece tokenizer with 600 tokens" in capsys.readouterr().out


def run_failing(arguments, capsys) -> str:
    assert main(arguments) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err  # one clear line
    return captured.err


def test_bad_tokenizer_inputs_exit_2_and_write_nothing(small_corpus, tmp_path, capsys):
    out = str(tmp_path / "tok")
    base = ["tokenizer", "train", "--kind", "wordpiece", "--out", out]
    assert "corpus file" in run_failing([*base, "--corpus", str(tmp_path / "missing.txt")], capsys)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    assert f"corpus file '{empty}' is empty" in run_failing([*base, "--corpus", str(empty)], capsys)
    error = run_failing([*base, "--corpus", str(small_corpus), "--vocab-size", "50"], capsys)
    assert "smaller than the alphabet" in error and "use --vocab-size" in error
    assert entries(tmp_path) == ["empty.txt"]


def test_bad_prepare_inputs_exit_2_and_write_nothing(trained_tokenizers, small_corpus, tmp_path, capsys):
    out = str(tmp_path / "data")
    base = ["data", "prepare", "--corpus", str(small_corpus), "--out", out]
    assert "has no mask token" in run_failing([*base, "--tokenizer", str(strip_mask(trained_tokenizers["bpe"], tmp_path))], capsys)
    tokenizer = str(trained_tokenizers["wordpiece"])
    assert "larger than the tokenizer's model_max_length 512" in run_failing([*base, "--tokenizer", tokenizer, "--seq-len", "4096"], capsys)
    error = run_failing([*base, "--tokenizer", tokenizer, "--seq-len", "256", "--max-position-embeddings", "128"], capsys)
    assert "max_position_embeddings 128" in error
    assert "does not exist" in run_failing(["data", "prepare", "--tokenizer", tokenizer, "--corpus", "nope.txt", "--out", out], capsys)
    assert "validation fraction" in run_failing([*base, "--tokenizer", tokenizer, "--validation-fraction", "1.5"], capsys)
    assert "does not exist" in run_failing([*base, "--tokenizer", str(tmp_path / "no-tokenizer")], capsys)
    assert entries(tmp_path) == ["no-mask"]


def strip_mask(folder, tmp_path):
    """A copy of a tokenizer folder whose config has no mask token."""
    copy = tmp_path / "no-mask"
    copy.mkdir()
    for path in folder.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    config = json.loads((copy / "tokenizer_config.json").read_text())
    del config["mask_token"]
    (copy / "tokenizer_config.json").write_text(json.dumps(config))
    return copy
