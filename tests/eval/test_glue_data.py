"""GLUE readers: published row counts on the real files, quirks, and errors naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlmkit.errors import MlmkitError
from mlmkit.eval.glue.data import load_task, read_task_tsv
from mlmkit.eval.glue.tasks import TASKS, parse_task_names

# (task, file, rows): GLUE's published sizes, and the shared partial/sample files (data README).
ROW_COUNTS = [
    ("rte", "train.tsv", 2490), ("rte", "dev.tsv", 277),
    ("mrpc", "train.tsv", 3668), ("mrpc", "dev.tsv", 408),
    ("cola", "train.tsv", 8551), ("cola", "dev.tsv", 1043),
    ("stsb", "train.tsv", 5749), ("stsb", "dev.tsv", 1500),
    ("sst2", "train.tsv", 67349), ("sst2", "dev.tsv", 872),
    ("wnli", "train.tsv", 635), ("wnli", "dev.tsv", 71),
    ("qnli", "dev.tsv", 2000),
    ("mnli", "train.sample.tsv", 480),
    ("qqp", "train.sample.tsv", 320),
]


@pytest.fixture(scope="module")
def glue_dir(shared_data: Path) -> Path:
    return shared_data / "glue"


@pytest.mark.parametrize("task, file, rows", ROW_COUNTS)
def test_published_row_counts(glue_dir, task, file, rows):
    spec = TASKS[task]
    dataset = read_task_tsv(glue_dir / spec.folder / file, spec)
    assert len(dataset) == rows
    assert set(dataset.column_names) == {*spec.text_fields, "label", "idx"}
    labels = set(dataset["label"])
    if spec.is_regression:
        assert min(labels) >= 0.0 and max(labels) <= 5.0
    else:
        assert labels == set(range(spec.num_labels))  # every class present, as ids


def test_quirks_bom_no_header_and_unbalanced_quotes(glue_dir):
    mrpc = read_task_tsv(glue_dir / "MRPC" / "train.tsv", TASKS["mrpc"])  # BOM before "Quality"
    assert mrpc[0]["sentence1"].startswith("Amrozi accused his brother")
    cola = read_task_tsv(glue_dir / "CoLA" / "train.tsv", TASKS["cola"])  # no header line
    first = "Our friends won't buy this analysis, let alone the next one we propose."
    assert cola[0] == {"sentence": first, "label": 1, "idx": 0}
    stsb = read_task_tsv(glue_dir / "STS-B" / "dev.tsv", TASKS["stsb"])  # a quote-aware parser would merge rows
    assert any(text.count('"') % 2 for text in [*stsb["sentence1"], *stsb["sentence2"]])


def test_label_mapping_follows_datasets_glue(glue_dir):
    mnli = read_task_tsv(glue_dir / "MNLI" / "train.sample.tsv", TASKS["mnli"])
    assert mnli[0]["premise"] == "Well, he showed them." and mnli[0]["label"] == 1  # pairID ...n = neutral
    rte = read_task_tsv(glue_dir / "RTE" / "train.tsv", TASKS["rte"])
    assert rte[0]["label"] == 1  # not_entailment


def test_bad_row_reports_file_and_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\tonly two\n", encoding="utf-8")
    with pytest.raises(MlmkitError, match=r"train\.tsv, line 3: 2 tab-separated fields, expected 4"):
        read_task_tsv(path, TASKS["rte"])


def test_bad_label_and_wrong_columns_report_file_and_line(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\tc\td\tmaybe\n", encoding="utf-8")
    with pytest.raises(MlmkitError, match=r"dev\.tsv, line 3: label 'maybe' is not one of"):
        read_task_tsv(path, TASKS["rte"])
    with pytest.raises(MlmkitError, match=r"dev\.tsv, line 1: header lacks column\(s\) \['#1 String'"):
        read_task_tsv(path, TASKS["mrpc"])


def test_qqp_malformed_rows_are_skipped_and_counted(tmp_path, capsys):
    path = tmp_path / "train.tsv"
    path.write_text(
        "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
        "1\t1\t2\tWhat?\tWhy?\t0\n"
        "2\t3\t4\tbroken row\n"
        "3\t5\t6\tHow?\tHow so?\t1\n",
        encoding="utf-8",
    )
    dataset = read_task_tsv(path, TASKS["qqp"])
    assert dataset["label"] == [0, 1]
    assert "skipped 1 malformed row" in capsys.readouterr().err


def test_missing_dev_and_folder_errors_say_what_is_expected(glue_dir, tmp_path):
    expected = r"mnli: no dev file: expected .*MNLI/dev_matched\.tsv and .*dev_mismatched\.tsv"
    with pytest.raises(MlmkitError, match=expected):
        load_task(glue_dir, TASKS["mnli"])
    with pytest.raises(MlmkitError, match=r"qnli: no training file: expected .*QNLI/train\.tsv"):
        load_task(glue_dir, TASKS["qnli"])
    with pytest.raises(MlmkitError, match=r"holds neither RTE/ .* nor rte/"):
        load_task(tmp_path, TASKS["rte"])


def test_train_sample_fallback_and_save_to_disk_folder(glue_dir, tmp_path, capsys):
    import datasets

    qqp = tmp_path / "QQP"
    qqp.mkdir()
    (qqp / "train.sample.tsv").write_bytes((glue_dir / "QQP" / "train.sample.tsv").read_bytes())
    (qqp / "dev.tsv").write_bytes((glue_dir / "QQP" / "train.sample.tsv").read_bytes())
    data = load_task(tmp_path, TASKS["qqp"])
    assert len(data.train) == 320 and len(data.evals["qqp"]) == 320
    err = capsys.readouterr().err
    assert "training on train.sample.tsv" in err and "official GLUE one 40430" in err

    saved = tmp_path / "saved" / "rte"
    rte = read_task_tsv(glue_dir / "RTE" / "dev.tsv", TASKS["rte"])
    datasets.DatasetDict({"train": rte, "validation": rte.select(range(10))}).save_to_disk(str(saved))
    data = load_task(tmp_path / "saved", TASKS["rte"])
    assert len(data.train) == 277 and len(data.evals["rte"]) == 10


def test_parse_task_names():
    assert parse_task_names("all") == list(TASKS)
    assert parse_task_names("stsb,RTE") == ["stsb", "rte"]
    with pytest.raises(MlmkitError, match="unknown task"):
        parse_task_names("rte,squad")
