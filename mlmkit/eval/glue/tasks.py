"""The nine GLUE tasks as data: one `TaskSpec` row per task (STYLE §3.4 "Evaluators are data").

Field and label names follow the `datasets` GLUE configs (`nyu-mll/glue`), so a task read from
the original TSV files and one saved with `save_to_disk` look the same downstream.

Default fine-tuning hyper-parameters:
- BERT (Devlin et al., 2019, §4.1 and App. A.3): batch 32, 3 epochs, max length 128, LR picked
  from {5e-5, 4e-5, 3e-5, 2e-5} on dev; 2e-5 is the value `transformers`' text-classification
  example uses for every task, with warm-up over 10% of the steps (BERT App. A.3).
- Small tasks need more epochs to converge: the `transformers` text-classification README trains
  MRPC and WNLI for 5 epochs instead of 3; ELECTRA (Clark et al., 2020, App. A) trains RTE and
  STS-B for 10 epochs and the other tasks for 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlmkit.errors import MlmkitError


@dataclass(frozen=True)
class HParams:
    """Fine-tuning hyper-parameters of one task; CLI options override them."""

    lr: float = 2e-5
    batch_size: int = 32
    epochs: float = 3.0
    max_length: int = 128


@dataclass(frozen=True)
class TaskSpec:
    """How to read, fine-tune and score one GLUE task.

    Attributes:
        name: the `datasets` config name (`cola`, `sst2`, ...).
        folder: the task's folder in the original GLUE layout (`CoLA`, `SST-2`, ...).
        text_fields: output field -> TSV column holding it (one field, or a sentence pair).
        label_column: TSV column holding the label.
        label_names: label strings in class-index order (as `datasets`' ClassLabel);
            empty for the regression task STS-B.
        metrics: names of `mlmkit.eval.metrics.METRICS` reported for the task.
        eval_files: evaluation name -> dev file in the task folder (MNLI has two).
        hf_eval_splits: evaluation name -> split of a `save_to_disk` DatasetDict.
        header: TSV column names when the files have no header line (CoLA), else empty.
        skip_malformed: skip (and count) rows with the wrong number of columns instead of
            failing; only QQP, whose original train.tsv has a few broken rows.
        published_dev_rows: rows per dev file in the official GLUE release, to warn when a
            local dev file is partial (scores on it are not comparable to published ones).
        hparams: default fine-tuning hyper-parameters.
        score_range: the (low, high) a regression score lies in (STS-B: 0 to 5, Cer et al. 2017).
    """

    name: str
    folder: str
    text_fields: dict[str, str]
    label_column: str
    label_names: tuple[str, ...]
    metrics: tuple[str, ...]
    eval_files: dict[str, str] = field(default_factory=lambda: {})
    hf_eval_splits: dict[str, str] = field(default_factory=lambda: {})
    header: tuple[str, ...] = ()
    skip_malformed: bool = False
    published_dev_rows: dict[str, int] = field(default_factory=lambda: {})
    hparams: HParams = HParams()
    score_range: tuple[float, float] = (0.0, 5.0)

    @property
    def is_regression(self) -> bool:
        return not self.label_names

    @property
    def num_labels(self) -> int:
        return len(self.label_names) or 1


_BINARY = ("0", "1")
_NLI2 = ("entailment", "not_entailment")


def _dev(name: str, rows: int) -> dict:
    """The common single-dev-file layout: `dev.tsv` <-> the `validation` split."""
    return {
        "eval_files": {name: "dev.tsv"},
        "hf_eval_splits": {name: "validation"},
        "published_dev_rows": {name: rows},
    }


TASKS: dict[str, TaskSpec] = {
    "cola": TaskSpec(
        "cola", "CoLA", {"sentence": "sentence"}, "label", _BINARY, ("matthews_correlation",),
        header=("source", "label", "original_label", "sentence"), **_dev("cola", 1043),
    ),
    "sst2": TaskSpec("sst2", "SST-2", {"sentence": "sentence"}, "label", _BINARY, ("accuracy",), **_dev("sst2", 872)),
    "mrpc": TaskSpec(
        "mrpc", "MRPC", {"sentence1": "#1 String", "sentence2": "#2 String"}, "Quality", _BINARY,
        ("f1", "accuracy"), hparams=HParams(epochs=5.0), **_dev("mrpc", 408),
    ),
    "stsb": TaskSpec(
        "stsb", "STS-B", {"sentence1": "sentence1", "sentence2": "sentence2"}, "score", (),
        ("pearson", "spearmanr"), hparams=HParams(epochs=10.0), **_dev("stsb", 1500),
    ),
    "qqp": TaskSpec(
        "qqp", "QQP", {"question1": "question1", "question2": "question2"}, "is_duplicate", _BINARY,
        ("f1", "accuracy"), skip_malformed=True, **_dev("qqp", 40430),
    ),
    "mnli": TaskSpec(
        "mnli", "MNLI", {"premise": "sentence1", "hypothesis": "sentence2"}, "gold_label",
        ("entailment", "neutral", "contradiction"), ("accuracy",),
        eval_files={"mnli_m": "dev_matched.tsv", "mnli_mm": "dev_mismatched.tsv"},
        hf_eval_splits={"mnli_m": "validation_matched", "mnli_mm": "validation_mismatched"},
        published_dev_rows={"mnli_m": 9815, "mnli_mm": 9832},
    ),
    "qnli": TaskSpec(
        "qnli", "QNLI", {"question": "question", "sentence": "sentence"}, "label", _NLI2, ("accuracy",),
        **_dev("qnli", 5463),
    ),
    "rte": TaskSpec(
        "rte", "RTE", {"sentence1": "sentence1", "sentence2": "sentence2"}, "label", _NLI2, ("accuracy",),
        hparams=HParams(epochs=10.0), **_dev("rte", 277),
    ),
    "wnli": TaskSpec(
        "wnli", "WNLI", {"sentence1": "sentence1", "sentence2": "sentence2"}, "label", _BINARY, ("accuracy",),
        hparams=HParams(epochs=5.0), **_dev("wnli", 71),
    ),
}


def parse_task_names(value: str) -> list[str]:
    """`all`, one task, or a comma-separated list -> task names in GLUE order, checked."""
    if value.strip() == "all":
        return list(TASKS)
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in TASKS]
    if unknown or not names:
        raise MlmkitError(
            f"--task {value!r}: unknown task(s) {unknown}; use 'all' or a comma-separated list of {', '.join(TASKS)}"
        )
    return [name for name in TASKS if name in names]
