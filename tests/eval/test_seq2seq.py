"""`mlmkit seq2seq`: the built-in restoration task, JSON-lines pairs, encoding, and a run end to end."""

from __future__ import annotations

import json

import pytest
import torch

from mlmkit.cli import main
from mlmkit.errors import MlmkitError
from mlmkit.eval.seq2seq import Seq2SeqConfig, load_task
from mlmkit.eval.seq2seq_data import (
    collate_pairs,
    encode_pairs,
    read_pairs,
    restoration_pairs,
    sentences,
    split_documents,
    strip_function_words,
)
from mlmkit.masking.corruption import IGNORE_INDEX
from mlmkit.masking.mass import decoder_end_token_id, decoder_start_token_id
from mlmkit.models.loading import load_tokenizer
from mlmkit.models.mass import MassForConditionalGeneration, mass_bart_config

DOCUMENT = (
    "Title\n"
    "The cat sat on the mat in the sun all day long . It was a very happy cat indeed , said the owner .\n"
    "Too short ."
)


def test_sentences_split_wikitext_style_and_filter_by_length():
    assert list(sentences([DOCUMENT])) == [
        "The cat sat on the mat in the sun all day long .",
        "It was a very happy cat indeed , said the owner .",
    ]


def test_strip_function_words_and_pairs():
    assert strip_function_words("The cat sat on the mat .") == "cat sat mat ."
    pairs = restoration_pairs([DOCUMENT])
    assert pairs[0] == {"source": "cat sat mat sun all day long .", "target": "The cat sat on the mat in the sun all day long ."}
    assert len(pairs) == 2


def test_split_documents_holds_out_the_last_ones(shared_data):
    train, held_out = split_documents(shared_data / "corpus" / "wikitext-2-raw" / "wiki.test.raw", 0.1)
    assert (len(train), len(held_out)) == (54, 6)
    with pytest.raises(MlmkitError, match="eval_fraction"):
        split_documents(shared_data / "corpus" / "wikitext-2-raw" / "wiki.test.raw", 1.5)


def test_read_pairs_names_the_bad_line(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"source": "a", "target": "b"}\n\n{"source": "c"}\n', encoding="utf-8")
    with pytest.raises(MlmkitError, match=r"pairs.jsonl:3: expected a JSON object with 'source' and 'target'"):
        read_pairs(path)


def test_load_task_needs_both_train_and_eval(tmp_path):
    with pytest.raises(MlmkitError, match="pass both --train and --eval"):
        load_task(Seq2SeqConfig(model="m", out="o", train=str(tmp_path / "t.jsonl")))


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    return load_tokenizer(minilm_path)


def test_encode_drops_the_start_token_and_collate_pads(tokenizer):
    start = decoder_start_token_id(tokenizer)
    features = encode_pairs(tokenizer, [{"source": "cat sat", "target": "the cat sat"}, {"source": "a", "target": "b"}], start, 16, 16)
    assert features[0]["labels"][0] != start and features[0]["labels"][-1] == tokenizer.sep_token_id
    batch = collate_pairs(features, tokenizer.pad_token_id)
    assert batch["labels"].shape == (2, 4) and (batch["labels"][1, 2:] == IGNORE_INDEX).all()
    assert batch["attention_mask"].tolist() == (batch["input_ids"] != tokenizer.pad_token_id).long().tolist()


def test_seq2seq_cli_end_to_end(tokenizer, tmp_path):
    config = mass_bart_config(
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, bos_token_id=decoder_start_token_id(tokenizer),
        eos_token_id=decoder_end_token_id(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64,
    )
    model_dir = tmp_path / "model"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        MassForConditionalGeneration(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    rows = [{"source": "cat sat mat .", "target": "the cat sat on the mat ."}] * 8
    for name in ("train", "eval"):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "out"
    code = main([
        "seq2seq", "--model", str(model_dir), "--out", str(out), "--train", str(tmp_path / "train.jsonl"),
        "--eval", str(tmp_path / "eval.jsonl"), "--steps", "2", "--batch-size", "4", "--max-target-length", "8",
        "--compare-scratch",
    ])  # fmt: skip
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results) >= {"pretrained", "scratch", "copy_source"}
    for name in ("pretrained", "scratch", "copy_source"):
        assert 0.0 <= results[name]["rouge_l"] <= 100.0 and 0.0 <= results[name]["bleu"] <= 100.0
    # Copying "cat sat mat ." (rouge-score drops punctuation) scores LCS 3 of 3 predicted / 6 reference tokens:
    # F = 2·(1·1/2)/(1 + 1/2) = 2/3.
    assert results["copy_source"]["rouge_l"] == pytest.approx(200 / 3)
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 8 and {"source", "target", "pretrained", "scratch"} <= set(predictions[0])


def test_seq2seq_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    code = main(["seq2seq", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
