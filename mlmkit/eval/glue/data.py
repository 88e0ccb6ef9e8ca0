"""Read a GLUE task into `datasets.Dataset`s: original TSV layout or a `save_to_disk` folder.

Original layout (`download_glue_data.py`): `DATA_DIR/<Folder>/train.tsv` and `dev.tsv`
(MNLI: `dev_matched.tsv`, `dev_mismatched.tsv`). Quirks handled here:
- no quoting: STS-B dev has unbalanced `"`, which a quote-aware parser merges into the next
  row, so every line is split on tabs only (`csv.QUOTE_NONE`);
- MRPC starts with a UTF-8 byte-order mark (read as `utf-8-sig`);
- CoLA has no header line (its column names are in the task's `TaskSpec.header`);
- QQP's original train.tsv has rows with missing fields: they are skipped and counted, and the
  count is printed; in every other task a malformed row is an error naming file and line;
- when `train.tsv` is absent, `train.sample.tsv` (a sample of train rows, as in the shared MNLI
  and QQP copies) is used instead, with a printed note, so tiny runs still work.

A task can instead be a folder written by `DatasetDict.save_to_disk` at `DATA_DIR/<name>/`
(splits and fields as in the `datasets` GLUE configs: `train`, `validation`, MNLI's
`validation_matched` / `validation_mismatched`).
"""

from __future__ import annotations

import csv
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from mlmkit.errors import MlmkitError
from mlmkit.eval.glue.tasks import TaskSpec
from mlmkit.text_files import check_utf8

TRAIN_FILES = ("train.tsv", "train.sample.tsv")


@dataclass
class TaskData:
    """The train split and the evaluation splits (eval name -> dataset) of one task."""

    train: "datasets.Dataset"  # noqa: F821 - imported lazily
    evals: dict[str, "datasets.Dataset"]  # noqa: F821


def iter_tsv_rows(path: Path, header: tuple[str, ...] = (), skip_malformed: bool = False) -> Iterator[tuple[int, dict]]:
    """Yield `(line_number, {column: value})` for each data row of a GLUE TSV file.

    Args:
        path: the TSV file.
        header: column names for a file without a header line; empty = read the first line.
        skip_malformed: skip rows with the wrong number of columns (counted and printed)
            instead of raising `MlmkitError`.
    """
    skipped = 0
    check_utf8(path, "GLUE file")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        columns = list(header) or next(reader, None)
        if columns is None:
            raise MlmkitError(f"{path}: file is empty; expected a GLUE TSV file with a header line")
        for row in reader:
            if len(row) != len(columns):
                if not skip_malformed:
                    raise MlmkitError(
                        f"{path}, line {reader.line_num}: {len(row)} tab-separated fields, expected "
                        f"{len(columns)} ({', '.join(columns)}); fix or delete that line"
                    )
                skipped += 1
                continue
            yield reader.line_num, dict(zip(columns, row))
    if skipped:
        print(f"{path}: skipped {skipped} malformed row(s) with a wrong number of fields", file=sys.stderr)


def _parse_label(spec: TaskSpec, value: str, where: str) -> int | float:
    """Label string -> class index (or float score for STS-B)."""
    if spec.is_regression:
        low, high = spec.score_range
        try:
            score = float(value)
        except ValueError:
            score = math.nan
        if not low <= score <= high:  # False for nan and inf too
            raise MlmkitError(f"{where}: score {value!r} is not a number from {low:g} to {high:g}; {spec.name} scores lie in that range")
        return score
    if value not in spec.label_names:
        raise MlmkitError(f"{where}: label {value!r} is not one of {list(spec.label_names)} ({spec.name})")
    return spec.label_names.index(value)


def read_task_tsv(path: str | Path, spec: TaskSpec) -> "datasets.Dataset":  # noqa: F821
    """Read one labelled GLUE TSV file of task `spec` into a Dataset with the `datasets` GLUE
    fields (`spec.text_fields` keys, `label`, `idx`)."""
    import datasets

    path = Path(path)
    needed = [*spec.text_fields.values(), spec.label_column]
    columns: dict[str, list] = {name: [] for name in [*spec.text_fields, "label", "idx"]}
    for line, row in iter_tsv_rows(path, spec.header, spec.skip_malformed):
        missing = [name for name in needed if name not in row]
        if missing:
            raise MlmkitError(
                f"{path}, line 1: header lacks column(s) {missing} needed for {spec.name} "
                f"(header is {list(row)}); is this the {spec.folder} file?"
            )
        for field_name, column in spec.text_fields.items():
            columns[field_name].append(row[column])
        columns["label"].append(_parse_label(spec, row[spec.label_column], f"{path}, line {line}"))
        columns["idx"].append(len(columns["idx"]))
    if not columns["idx"]:
        raise MlmkitError(f"{path}: no data rows; expected a labelled {spec.folder} file")
    return datasets.Dataset.from_dict(columns)


def find_task_files(data_dir: Path, spec: TaskSpec) -> tuple[Path, dict[str, Path]]:
    """The train file and the dev files (eval name -> path) of a task in the GLUE layout."""
    folder = data_dir / spec.folder
    train = next((folder / name for name in TRAIN_FILES if (folder / name).is_file()), None)
    if train is None:
        raise MlmkitError(f"{spec.name}: no training file: expected {folder / TRAIN_FILES[0]}")
    if train.name != TRAIN_FILES[0]:
        print(f"{spec.name}: {folder / TRAIN_FILES[0]} not found; training on {train.name}", file=sys.stderr)
    evals = {name: folder / file for name, file in spec.eval_files.items()}
    missing = [str(path) for path in evals.values() if not path.is_file()]
    if missing:
        raise MlmkitError(f"{spec.name}: no dev file: expected {' and '.join(missing)}")
    return train, evals


def _warn_if_partial(spec: TaskSpec, evals: dict[str, "datasets.Dataset"]) -> None:  # noqa: F821
    for name, dataset in evals.items():
        published = spec.published_dev_rows.get(name)
        if published and len(dataset) != published:
            print(
                f"{name}: dev set has {len(dataset)} rows, the official GLUE one {published}: "
                "scores are not comparable to published ones",
                file=sys.stderr,
            )


def _load_saved(folder: Path, spec: TaskSpec) -> TaskData:
    """A `save_to_disk` DatasetDict with the `datasets` GLUE splits and fields."""
    import datasets

    saved = datasets.load_from_disk(str(folder))
    splits = {"train": "train", **spec.hf_eval_splits}
    missing = [split for split in splits.values() if split not in saved]
    if missing:
        raise MlmkitError(f"{folder}: dataset has splits {list(saved)}; {spec.name} needs {missing}")
    fields = [*spec.text_fields, "label"]
    absent = [name for name in fields if name not in saved["train"].column_names]
    if absent:
        raise MlmkitError(f"{folder}: dataset lacks field(s) {absent}; {spec.name} needs {fields}")
    return TaskData(saved["train"], {name: saved[split] for name, split in spec.hf_eval_splits.items()})


def load_task(data_dir: str | Path, spec: TaskSpec) -> TaskData:
    """Load task `spec` from `data_dir`: `<Folder>/` in the GLUE TSV layout, or else `<name>/`
    written by `DatasetDict.save_to_disk`; raises MlmkitError saying what is expected."""
    data_dir = Path(data_dir)
    if (data_dir / spec.folder).is_dir():
        train_file, eval_files = find_task_files(data_dir, spec)
        data = TaskData(
            read_task_tsv(train_file, spec), {name: read_task_tsv(path, spec) for name, path in eval_files.items()}
        )
    elif (data_dir / spec.name / "dataset_dict.json").is_file():
        data = _load_saved(data_dir / spec.name, spec)
    else:
        raise MlmkitError(
            f"{spec.name}: {data_dir} holds neither {spec.folder}/ (original GLUE TSV files) "
            f"nor {spec.name}/ (a DatasetDict.save_to_disk folder); "
            f"pass --data-dir the folder that holds {spec.folder}/"
        )
    _warn_if_partial(spec, data.evals)
    return data
