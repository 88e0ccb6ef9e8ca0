"""Fine-tune a checkpoint on GLUE tasks, one run per seed, and score it on their dev sets.

Set-up (BERT §4.1, App. A.3): `AutoModelForSequenceClassification` with a fresh head
(regression head with MSE for STS-B), AdamW with linear warm-up over 10% of the steps then
linear decay (the shared `mlmkit.eval.finetune` loop), inputs truncated to `max_length` and
padded per batch (dynamic padding), on Accelerate.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlmkit.errors import MlmkitError
from mlmkit.eval.glue.data import TaskData, load_task
from mlmkit.eval.glue.results import summarize
from mlmkit.eval.glue.tasks import TASKS, HParams, TaskSpec
from mlmkit.eval.metrics import compute_metrics

# The training subset taken by --max-train-samples is the same for every fine-tuning seed, so
# that seeds vary initialisation and order only.
SUBSET_SEED = 0


@dataclass(frozen=True)
class GlueOptions:
    """What to run; `None` hyper-parameters fall back to each task's `TaskSpec.hparams`."""

    seeds: tuple[int, ...] = (1,)
    lr: float | None = None
    batch_size: int | None = None
    epochs: float | None = None
    max_length: int | None = None
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    skip_unavailable: bool = False
    description: str = ""  # what the progress bars name the model as (e.g. "random (seed 0)")


# Fine-tuning LR by model width when --lr is not given, as (largest hidden size, LR): BERT's 2e-5 (the
# task default) leaves small models at the majority class. Up to 128 (the tiny presets) 1e-3, measured on
# tiny ModernBERT, SST-2 sample, 3 epochs: 3e-4 is 6 points lower, 2e-3 and 3e-3 no better; up to 512,
# 1e-4, from the grid published with Turc et al. 2019's compact BERTs ({3e-4, 1e-4, 5e-5, 3e-5},
# google-research/bert README).
LR_BY_WIDTH = ((128, 1e-3), (512, 1e-4))


def default_lr(hidden_size: int | None, task_lr: float) -> float:
    """The fine-tuning LR for a model of `hidden_size` (LR_BY_WIDTH), else the task's default."""
    for largest, lr in LR_BY_WIDTH:
        if hidden_size is not None and hidden_size <= largest:
            return lr
    return task_lr


def resolve_hparams(spec: TaskSpec, options: GlueOptions, hidden_size: int | None = None) -> HParams:
    """The task's defaults (the LR by model width, `default_lr`), overridden by whatever the user set."""
    overrides = {
        name: getattr(options, name)
        for name in ("lr", "batch_size", "epochs", "max_length")
        if getattr(options, name) is not None
    }
    overrides.setdefault("lr", default_lr(hidden_size, spec.hparams.lr))
    return dataclasses.replace(spec.hparams, **overrides)


def _subsample(data: TaskData, options: GlueOptions) -> TaskData:
    train, evals = data.train, data.evals
    if options.max_train_samples is not None and options.max_train_samples < len(train):
        train = train.shuffle(seed=SUBSET_SEED).select(range(options.max_train_samples))
    if options.max_eval_samples is not None:
        evals = {name: ds.select(range(min(options.max_eval_samples, len(ds)))) for name, ds in evals.items()}
    return TaskData(train, evals)


def _tokenize(dataset: Any, spec: TaskSpec, tokenizer: Any, max_length: int) -> Any:
    """Text fields -> input ids (truncated, unpadded: batches are padded by the collator)."""
    fields = list(spec.text_fields)

    def encode(batch: dict) -> dict:
        encoded = tokenizer(*[batch[name] for name in fields], truncation=True, max_length=max_length)
        encoded["labels"] = batch["label"]
        return encoded

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names, desc=f"tokenize {spec.name}")


def _load_classifier(model_dir: str | Path, spec: TaskSpec) -> Any:
    from transformers import AutoModelForSequenceClassification

    from mlmkit.models.loading import load_model

    if spec.is_regression:
        return load_model(model_dir, AutoModelForSequenceClassification, num_labels=1, problem_type="regression")
    return load_model(
        model_dir,
        AutoModelForSequenceClassification,
        num_labels=spec.num_labels,
        problem_type="single_label_classification",
        id2label=dict(enumerate(spec.label_names)),
        label2id={name: index for index, name in enumerate(spec.label_names)},
    )


def finetune_and_score(
    model_dir: str | Path,
    spec: TaskSpec,
    encoded: dict[str, Any],
    hparams: HParams,
    seed: int,
    accelerator: Any,
    tokenizer: Any,
    description: str = "",
) -> tuple[dict[str, dict[str, float]], dict[str, list[float]]]:
    """One fine-tuning run of `spec` with `seed`.

    `encoded` maps "train" and each eval name to a tokenized Dataset.

    Returns:
        (eval name -> metric -> value, eval name -> the prediction for every dev example: a class
        index, or the score for regression), the predictions for intervals over dev examples.
    """
    import torch
    from accelerate.utils import set_seed
    from transformers import DataCollatorWithPadding

    from mlmkit.eval.finetune import finetune, predict

    set_seed(seed)  # the classifier head's initialisation and dropout
    collator = DataCollatorWithPadding(tokenizer)
    order = torch.Generator().manual_seed(seed)
    train_loader = torch.utils.data.DataLoader(
        encoded["train"], batch_size=hparams.batch_size, shuffle=True, collate_fn=collator, generator=order
    )
    model = finetune(
        _load_classifier(model_dir, spec), train_loader, accelerator,
        epochs=hparams.epochs, lr=hparams.lr, desc=" ".join(filter(None, ["fine-tune", description, f"{spec.name} seed {seed}"])),
    )
    scores, kept = {}, {}
    for name in spec.eval_files:
        loader = torch.utils.data.DataLoader(encoded[name], batch_size=2 * hparams.batch_size, collate_fn=collator)
        logits = predict(model, loader, accelerator, desc=f"{name} dev")["logits"]  # (N, num_labels)
        predictions = logits[:, 0] if spec.is_regression else logits.argmax(dim=-1)
        scores[name] = compute_metrics(spec.metrics, predictions.numpy(), encoded[name]["labels"])
        kept[name] = predictions.tolist()
    accelerator.free_memory()
    return scores, kept


def _load_all(data_dir: Path, names: list[str], options: GlueOptions) -> tuple[dict[str, TaskData], dict[str, str]]:
    """Load every task before any training, so a missing file fails fast; with
    `skip_unavailable`, tasks that cannot be loaded are returned as skipped with the reason."""
    loaded, skipped = {}, {}
    for name in names:
        try:
            loaded[name] = _subsample(load_task(data_dir, TASKS[name]), options)
        except MlmkitError as error:
            if not options.skip_unavailable:
                raise
            skipped[name] = str(error)
            print(f"skipping {name}: {error}")
    if not loaded:
        raise MlmkitError(f"none of the tasks {names} could be loaded from {data_dir}: {skipped}")
    return loaded, skipped


def shipped_glue_dir() -> Path:
    """The GLUE sample inside the package (SST-2: 20,000 train rows, full dev; see its SOURCE.md)."""
    from importlib import resources

    return Path(str(resources.files("mlmkit").joinpath("resources", "glue")))


def run_glue(model_dir: str | Path, task_names: list[str], data_dir: str | Path | None, options: GlueOptions) -> dict:
    """Fine-tune `model_dir` (a checkpoint folder or a Hub id) on each task once per seed and summarise the dev scores.

    Args:
        data_dir: the folder of GLUE task folders; None: the SST-2 sample shipped with mlmkit.

    Returns the results dictionary written to `results.json` (see `results.summarize`).
    """
    from accelerate import Accelerator

    from mlmkit.models.loading import load_tokenizer, model_source

    if data_dir is None:
        missing = [name for name in task_names if not (shipped_glue_dir() / TASKS[name].folder).is_dir()]
        if missing:
            raise MlmkitError(
                f"no GLUE data for {', '.join(missing)}: mlmkit ships only an SST-2 sample; pass --data-dir with the "
                "GLUE task folders (CoLA/ SST-2/ MRPC/ ...)"
            )
        data_dir = shipped_glue_dir()
    model_dir = model_source(model_dir, what="--model")
    tokenizer = load_tokenizer(model_dir, what="--model")
    tasks, skipped = _load_all(Path(data_dir), task_names, options)
    accelerator = Accelerator()
    per_seed, details = {}, {}
    for name, data in tasks.items():
        per_seed[name], details[name] = _run_task(model_dir, TASKS[name], data, options, accelerator, tokenizer)
    return summarize(str(model_dir), per_seed, details, skipped)


def _hidden_size(model_dir: str | Path) -> int | None:
    from transformers import AutoConfig

    return getattr(AutoConfig.from_pretrained(str(model_dir)), "hidden_size", None)


def _run_task(
    model_dir: str | Path, spec: TaskSpec, data: TaskData, options: GlueOptions, accelerator: Any, tokenizer: Any
) -> tuple[dict[int, dict[str, dict[str, float]]], dict]:
    """All seeds of one task: (seed -> eval name -> metric -> value, details for results.json)."""
    started = time.perf_counter()
    hparams = resolve_hparams(spec, options, _hidden_size(model_dir))
    splits = {"train": data.train, **data.evals}
    encoded = {split: _tokenize(dataset, spec, tokenizer, hparams.max_length) for split, dataset in splits.items()}
    runs, predictions = {}, {}
    for seed in options.seeds:
        runs[seed], predictions[seed] = finetune_and_score(
            model_dir, spec, encoded, hparams, seed, accelerator, tokenizer, options.description
        )
    details = {
        "hparams": dataclasses.asdict(hparams),
        "train_rows": len(data.train),
        "eval_rows": {split: len(dataset) for split, dataset in data.evals.items()},
        "seconds": round(time.perf_counter() - started, 1),
        # Per dev example, for intervals and paired differences over examples and seeds (mlmkit compare).
        "labels": {name: list(encoded[name]["labels"]) for name in spec.eval_files},
        "predictions": {name: {str(seed): predictions[seed][name] for seed in options.seeds} for name in spec.eval_files},
    }
    return runs, details
