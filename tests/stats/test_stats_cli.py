"""`mlmkit stats`: builds a file the collator loads; bad input exits 2 with one line that says what to fix."""

from __future__ import annotations

import json

import pytest

from mlmkit.cli import main
from mlmkit.stats.artifact import read_header

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("the new york times reported it .\nin new york the times are hard .\n" * 30)
    return path


def test_rom_and_pmi_from_the_command_line(corpus, minilm_path, tmp_path, capsys):
    out = tmp_path / "rom.safetensors"
    assert main(["stats", "rom", "--corpus", str(corpus), "--tokenizer", str(minilm_path), "--out", str(out)]) == 0
    assert read_header(out)["summary"] == {"documents": 60, "tokens": 450}
    assert "wrote" in capsys.readouterr().out
    out = tmp_path / "pmi.safetensors"
    args = ["stats", "pmi", "--corpus", str(corpus), "--tokenizer", str(minilm_path), "--out", str(out), "--min-count", "20"]
    assert main([*args, "--variant", "squared", "--vocab-size", "8"]) == 0
    header = read_header(out)
    assert header["options"]["variant"] == "squared" and header["options"]["min_count"] == 20
    assert header["summary"]["vocab_size"] == 8 and header["summary"]["2-grams"]["kept"] == 4


def test_dataset_input(corpus, minilm_path, tmp_path):
    from datasets import Dataset

    Dataset.from_dict({"sentence": corpus.read_text().splitlines()}).save_to_disk(str(tmp_path / "ds"))
    out = tmp_path / "rom.safetensors"
    args = ["stats", "rom", "--dataset", str(tmp_path / "ds"), "--text-column", "sentence", "--tokenizer", str(minilm_path)]
    assert main([*args, "--out", str(out)]) == 0
    assert read_header(out)["summary"]["documents"] == 60 and "dataset_fingerprint" in json.dumps(read_header(out)["corpus"])


def test_errors_exit_2_with_one_line(minilm_path, tmp_path, capsys):
    args = ["stats", "informask", "--corpus", str(tmp_path / "missing.txt"), "--tokenizer", str(minilm_path), "--out", str(tmp_path / "x")]
    assert main(args) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "missing.txt' does not exist" in error
    with pytest.raises(SystemExit):
        main(["stats", "difference", "--target-corpus", "a.txt", "--tokenizer", str(minilm_path), "--out", "x"])  # argparse: 2
