"""`--dataset` accepts what `datasets` accepts; plain-text readers refuse structured files; Hub names fail fast offline."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest

from mlmkit.cli import main
from mlmkit.data.pipeline import prepare_dataset
from mlmkit.data.sources import open_dataset
from mlmkit.data.tokenizer import load_mlm_tokenizer
from mlmkit.errors import MlmkitError

DOCUMENTS = [
    "The quick brown fox jumped over the lazy dog.",
    "Unaffable people don't smile; they grimace!",
    "A third document, with commas, and \"quotes\".",
    "Short one.",
    "The last document ends the corpus here.",
]


@pytest.fixture(scope="module")
def tokenizer(trained_tokenizers):
    return load_mlm_tokenizer(trained_tokenizers["wordpiece"])


@pytest.fixture(scope="module")
def expected_rows(tokenizer, tmp_path_factory):
    """Rows prepared from an in-memory `Dataset` of DOCUMENTS: every other input form must give exactly these."""
    import datasets

    out = tmp_path_factory.mktemp("expected") / "data"
    rows = prepare_dataset(tokenizer, seq_len=16, out_dir=out, dataset=datasets.Dataset.from_dict({"text": DOCUMENTS})).dataset
    return rows["input_ids"], rows["word_ids"]


def write_jsonl(path: Path, documents: list[str], column: str = "text", opener=open) -> Path:
    with opener(path, "wt", encoding="utf-8") as handle:
        for index, document in enumerate(documents):
            handle.write(json.dumps({"id": index, column: document}) + "\n")
    return path


def write_input(form: str, folder: Path):
    """DOCUMENTS in input form `form`; returns what to pass as `dataset`."""
    import datasets

    table = datasets.Dataset.from_dict({"text": DOCUMENTS, "id": list(range(len(DOCUMENTS)))})
    if form == "jsonl":
        return str(write_jsonl(folder / "docs.jsonl", DOCUMENTS))
    if form == "jsonl.gz":
        return str(write_jsonl(folder / "docs.jsonl.gz", DOCUMENTS, opener=gzip.open))
    if form == "csv":
        table.to_csv(str(folder / "docs.csv"))
        return str(folder / "docs.csv")
    if form == "parquet":
        table.to_parquet(str(folder / "docs.parquet"))
        return str(folder / "docs.parquet")
    if form == "txt":
        (folder / "docs.txt").write_text("\n".join(DOCUMENTS) + "\n", encoding="utf-8")
        return str(folder / "docs.txt")
    if form == "folder of jsonl":
        (folder / "shards").mkdir()
        write_jsonl(folder / "shards" / "part-0.jsonl", DOCUMENTS[:2])
        write_jsonl(folder / "shards" / "part-1.jsonl", DOCUMENTS[2:])
        return str(folder / "shards")
    if form == "DatasetDict folder":
        datasets.DatasetDict({"train": table, "test": table.select([0])}).save_to_disk(str(folder / "saved"))
        return str(folder / "saved")
    if form == "DatasetDict":
        return datasets.DatasetDict({"train": table, "test": table.select([0])})
    if form == "IterableDataset":
        return table.to_iterable_dataset(num_shards=2)
    raise AssertionError(form)


FORMS = ["jsonl", "jsonl.gz", "csv", "parquet", "txt", "folder of jsonl", "DatasetDict folder", "DatasetDict", "IterableDataset"]


@pytest.mark.parametrize("form", FORMS)
def test_every_input_form_gives_the_same_rows(form, tokenizer, expected_rows, tmp_path):
    source = write_input(form, tmp_path)
    result = prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "data", dataset=source)
    assert (result.dataset["input_ids"], result.dataset["word_ids"]) == expected_rows
    assert result.stats["documents"] == len(DOCUMENTS)


def test_iterable_dataset_is_never_reused_from_the_cache(tokenizer, tmp_path):
    stream = write_input("IterableDataset", tmp_path)
    assert not prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "data", dataset=stream).reused
    assert not prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "data", dataset=stream, overwrite=True).reused
    files = write_input("jsonl", tmp_path)
    assert not prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "files", dataset=files).reused
    assert prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "files", dataset=files).reused


def test_text_column_and_split_pick_what_is_read(tokenizer, expected_rows, tmp_path):
    write_jsonl(tmp_path / "docs.jsonl", DOCUMENTS, column="content")
    rows = prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "a", dataset=str(tmp_path / "docs.jsonl"), text_column="content").dataset
    assert (rows["input_ids"], rows["word_ids"]) == expected_rows
    with pytest.raises(MlmkitError, match="no column 'text' and no 'input_ids' \\(columns: id, content\\); pass --text-column"):
        prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "b", dataset=str(tmp_path / "docs.jsonl"))
    import datasets

    saved = write_input("DatasetDict folder", tmp_path)  # its "test" split is the first document alone
    test_rows = prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "c", dataset=saved, split="test").dataset
    first = prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "e", dataset=datasets.Dataset.from_dict({"text": DOCUMENTS[:1]}))
    assert test_rows["input_ids"] == first.dataset["input_ids"] != expected_rows[0]
    with pytest.raises(MlmkitError, match="no split 'validation' \\(splits: train, test\\); pass --split"):
        prepare_dataset(tokenizer, seq_len=16, out_dir=tmp_path / "d", dataset=saved, split="validation")


def test_cli_prepares_a_jsonl_file_and_stats_reads_it(trained_tokenizers, tmp_path, capsys):
    path = write_jsonl(tmp_path / "docs.jsonl", DOCUMENTS * 20, column="content")
    tokenizer = str(trained_tokenizers["wordpiece"])
    arguments = ["data", "prepare", "--tokenizer", tokenizer, "--dataset", str(path), "--text-column", "content"]
    assert main([*arguments, "--out", str(tmp_path / "data"), "--seq-len", "32", "--tokenize-batch-size", "7"]) == 0
    assert "saved" in capsys.readouterr().out
    stats = ["stats", "rom", "--tokenizer", tokenizer, "--dataset", str(path), "--text-column", "content", "--out", str(tmp_path / "rom.safetensors")]
    assert main(stats) == 0
    assert (tmp_path / "rom.safetensors").is_file()


def run_failing(arguments: list[str], capsys) -> str:
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    return error


@pytest.mark.parametrize("name, kind", [("docs.jsonl", "structured data file (json)"), ("docs.csv", "structured data file (csv)"),
                                        ("docs.txt.gz", "compressed file (.txt.gz)"), ("lines.raw", "structured data file (JSON Lines)")])
def test_plain_text_readers_refuse_structured_files(name, kind, trained_tokenizers, tmp_path, capsys):
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(b"some text\n"))
    elif name.endswith(".csv"):
        path.write_text("id,text\n0,some text\n")
    else:
        write_jsonl(path, DOCUMENTS)
    pointer = f"is a {kind}, not plain text; pass it as --dataset {path}"
    tokenizer = str(trained_tokenizers["wordpiece"])
    assert pointer in run_failing(["data", "prepare", "--tokenizer", tokenizer, "--corpus", str(path), "--out", str(tmp_path / "o")], capsys)
    assert pointer in run_failing(["tokenizer", "train", "--corpus", str(path), "--out", str(tmp_path / "t")], capsys)
    assert pointer in run_failing(["stats", "rom", "--tokenizer", tokenizer, "--corpus", str(path), "--out", str(tmp_path / "s")], capsys)


@pytest.mark.parametrize("name", ["data/missing.jsonl", "./corpus", "/no/such/folder", "~/no-such-file.parquet", "a/b/c"])
def test_a_missing_path_is_a_path_error(name):
    with pytest.raises(MlmkitError, match=f"dataset path '{name}' does not exist"):
        open_dataset(name)


def test_folders_without_data_files_or_with_mixed_kinds(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MlmkitError, match="holds no data files .* and was not written by save_to_disk"):
        open_dataset(tmp_path / "empty")
    (tmp_path / "mixed").mkdir()
    write_jsonl(tmp_path / "mixed" / "a.jsonl", DOCUMENTS)
    (tmp_path / "mixed" / "b.csv").write_text("text\nx\n")
    with pytest.raises(MlmkitError, match="mixes data file kinds \\(csv, json\\)"):
        open_dataset(tmp_path / "mixed")


@pytest.mark.parametrize("environment", [{"HF_HUB_OFFLINE": "1"}, {"HF_DATASETS_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}])
def test_hub_name_offline_is_one_line_at_once(environment, trained_tokenizers, tmp_path):
    """As a user runs it: the variables are read when the libraries are imported. Port 9 has no server: no network."""
    import os
    import subprocess
    import sys

    tokenizer = str(trained_tokenizers["wordpiece"])
    arguments = ["data", "prepare", "--tokenizer", tokenizer, "--dataset", "wikitext", "--dataset-config", "wikitext-2-raw-v1", "--out", str(tmp_path / "o")]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mlmkit", *arguments], capture_output=True, text=True, timeout=120, env={**os.environ, **environment})
    assert time.perf_counter() - started < 30  # not load_dataset's 40 s of retries on top of start-up
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert "Hub dataset 'wikitext' (config 'wikitext-2-raw-v1')" in done.stderr
    if "HF_ENDPOINT" in environment:
        assert "is not a local path, and the Hugging Face Hub cannot be reached" in done.stderr and "HF_HUB_OFFLINE=1" in done.stderr
    else:
        assert "offline mode is on (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE) and it is not in the Hugging Face cache" in done.stderr
    assert not (tmp_path / "o").exists()


def test_a_recipe_with_data_dataset_trains_its_tokenizer_and_blocks_on_that_dataset(tmp_path):
    from mlmkit.config import config_from_dict
    from mlmkit.train.inputs import resolve_datasets, resolve_tokenizer

    path = write_jsonl(tmp_path / "docs.jsonl", DOCUMENTS * 40, column="body")
    data = {"dataset": str(path), "text_column": "body", "seq_len": 16, "eval_fraction": 0.1, "tokenize_batch_size": 9}
    config = config_from_dict({"tokenizer": {"vocab_size": 300, "lowercase": True}, "data": data, "output_dir": str(tmp_path / "run")})
    (tmp_path / "run").mkdir()  # as pretrain makes it
    tokenizer = resolve_tokenizer(config, tmp_path / "run")
    assert "grimace" in tokenizer.get_vocab()  # frequent here, never a whole token of the embedded WikiText at this size
    train, held_out = resolve_datasets(config, tokenizer, tmp_path / "run")
    text = tokenizer.decode([token for rows in (train["input_ids"], held_out["input_ids"]) for row in rows for token in row], skip_special_tokens=True)
    assert text.count("grimace") == 40
