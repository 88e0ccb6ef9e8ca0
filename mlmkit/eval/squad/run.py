"""Fine-tune a checkpoint for SQuAD and score it: the library side of `mlmkit squad`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mlmkit.data.output_folder import check_writable_folder
from mlmkit.errors import MlmkitError
from mlmkit.eval.squad.baseline import first_sentence_predictions
from mlmkit.eval.squad.data import VERSIONS, SquadExample, read_squad, split_by_article
from mlmkit.eval.squad.decode import decode_windows, final_predictions
from mlmkit.eval.squad.features import WindowDataset, build_windows
from mlmkit.eval.squad.metrics import evaluate_v1, evaluate_v2
from mlmkit.models.loading import model_source


@dataclass(frozen=True)
class SquadConfig:
    """Options of one SQuAD run (defaults: BERT's SQuAD fine-tuning, scaled for small runs)."""

    model: str
    version: str
    train: str
    out: str
    dev: str | None = None
    split_by_article: float | None = None
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    epochs: float = 2.0
    lr: float = 5e-5
    batch_size: int = 16
    max_length: int = 384
    doc_stride: int = 128
    n_best: int = 20
    max_answer_length: int = 30
    null_threshold: float = 0.0
    seed: int = 42


def load_splits(config: SquadConfig) -> tuple[list[SquadExample], list[SquadExample], set[str]]:
    """Train and dev questions (dev from --dev or held-out articles) and the ids with bad offsets."""
    if config.version not in VERSIONS:
        raise MlmkitError(f"--version {config.version!r}; must be one of {VERSIONS}")
    if (config.dev is None) == (config.split_by_article is None):
        raise MlmkitError("pass exactly one of --dev FILE or --split-by-article FRACTION (e.g. 0.25)")
    train_file = read_squad(config.train)
    files = [train_file]
    if config.dev is None:
        train, dev = split_by_article(train_file.examples, config.split_by_article)
    else:
        files.append(read_squad(config.dev))
        train, dev = train_file.examples, files[1].examples
    for file, path in zip(files, (config.train, config.dev)):
        if config.version == "1.1" and file.version == "2.0":
            raise MlmkitError(f"{path!r} is a SQuAD 2.0 file (unanswerable questions); pass --version 2.0")
        unanswered = next((example for example in file.examples if not example.answers), None)
        if config.version == "1.1" and unanswered is not None:
            raise MlmkitError(
                f"{path}: question {unanswered.id} (article {unanswered.title!r}) has no answers; every SQuAD v1.1 "
                "question has at least one. Add its answers, or pass --version 2.0 for a file with unanswerable questions"
            )
    bad_ids = {qid for file in files for qid in file.bad_ids}
    if config.max_train_samples is not None:
        train = train[: config.max_train_samples]
    if config.max_eval_samples is not None:
        dev = dev[: config.max_eval_samples]
    return train, dev, bad_ids


def _report_bad_ids(bad_ids: set[str], train: list[SquadExample]) -> None:
    if not bad_ids:
        return
    skipped = sum(example.id in bad_ids for example in train)
    shown = ", ".join(sorted(bad_ids)[:10]) + (" ..." if len(bad_ids) > 10 else "")
    print(f"warning: {len(bad_ids)} question(s) have an answer_start that does not point at the answer text: {shown}")
    print(f"warning: skipped {skipped} of them from training (they are still scored on their gold texts)")


def _loader(tensors: dict[str, torch.Tensor], batch_size: int, seed: int | None) -> torch.utils.data.DataLoader:
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        WindowDataset(tensors), batch_size=batch_size, shuffle=generator is not None, generator=generator
    )


def train_and_predict(
    config: SquadConfig, train: list[SquadExample], dev: list[SquadExample], bad_ids: set[str]
) -> dict[str, Any]:
    """Fine-tune `AutoModelForQuestionAnswering` on `train` and decode `dev`; returns id -> Decoded.

    A model without a QA head (e.g. a pretrained MLM encoder) gets a freshly initialised one.
    Both that initialisation and dropout use torch's global RNG, so we run inside a forked RNG
    seeded with `config.seed`: reproducible, and the caller's RNG state is left untouched.
    """
    from accelerate import Accelerator
    from transformers import AutoModelForQuestionAnswering

    from mlmkit.eval.finetune import finetune, predict
    from mlmkit.models.loading import load_model, load_tokenizer

    tokenizer = load_tokenizer(config.model, what="--model")
    if not getattr(tokenizer, "is_fast", False):
        raise MlmkitError(f"the tokenizer in {config.model!r} is not a fast tokenizer; SQuAD windows need offset mappings")
    window_options = dict(max_length=config.max_length, doc_stride=config.doc_stride)
    fine_tune = config.epochs > 0 and len(train) > 0
    train_windows = build_windows(tokenizer, train, with_labels=True, skip_ids=frozenset(bad_ids), **window_options) if fine_tune else []
    dev_windows = build_windows(tokenizer, dev, **window_options)
    print(f"{len(train)} train questions -> {len(train_windows)} windows; {len(dev)} dev questions -> {len(dev_windows)} windows")
    accelerator = Accelerator()
    with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
        torch.manual_seed(config.seed)
        model = load_model(config.model, AutoModelForQuestionAnswering, what="--model")
        if fine_tune:
            model = finetune(
                model, _loader(train_windows.tensors, config.batch_size, config.seed), accelerator,
                epochs=config.epochs, lr=config.lr, desc="squad fine-tune",
            )  # fmt: skip
        else:
            model = accelerator.prepare(model)
        logits = predict(
            model, _loader(dev_windows.tensors, config.batch_size * 2, None), accelerator,
            output_names=("start_logits", "end_logits"), desc="squad predict",
        )  # fmt: skip
    return decode_windows(
        dev, dev_windows, logits["start_logits"], logits["end_logits"],
        n_best=config.n_best, max_answer_length=config.max_answer_length,
    )  # fmt: skip


def score(dev: list[SquadExample], decoded: dict, config: SquadConfig) -> tuple[dict[str, str], dict[str, float]]:
    """Official-format predictions and results for `decoded` spans."""
    predictions = final_predictions(decoded, config.version, config.null_threshold)
    for example in dev:  # questions that got no window at all (empty context) answer ""
        predictions.setdefault(example.id, "")
    if config.version == "1.1":
        return predictions, evaluate_v1(dev, predictions)
    # Evaluate the non-null spans with the no-answer scores, as the official script does given
    # an --na-prob-file: `exact`/`f1` at our threshold, best_* at the threshold tuned on dev.
    spans = {example.id: decoded[example.id].text if example.id in decoded else "" for example in dev}
    na_scores = {example.id: decoded[example.id].score_diff if example.id in decoded else math.inf for example in dev}
    return predictions, evaluate_v2(dev, spans, na_scores, na_prob_thresh=config.null_threshold)


def format_table(results: dict[str, float], baseline: dict[str, float]) -> str:
    """Two columns, model and first-sentence baseline, one row per metric."""
    lines = [f"{'metric':<20} {'model':>10} {'baseline':>10}"]
    for name, value in results.items():
        reference = baseline.get(name)
        reference_text = f"{reference:>10.2f}" if isinstance(reference, float) else f"{'':>10}"
        lines.append(f"{name:<20} {value:>10.2f} {reference_text}" if isinstance(value, float) else f"{name:<20} {value:>10}")
    return "\n".join(lines)


def run_squad(config: SquadConfig) -> dict[str, float]:
    """Fine-tune, predict and score; write OUT/predictions.json, OUT/results.json, OUT/null_odds.json
    (v2.0) and OUT/baseline.json; return the results."""
    model_source(config.model, what="--model")  # fail before the slow steps
    check_writable_folder(config.out)
    train, dev, bad_ids = load_splits(config)
    _report_bad_ids(bad_ids, train)
    if not dev:
        raise MlmkitError("the dev set is empty; check --dev / --split-by-article / --max-eval-samples")
    if config.epochs > 0 and all(example.id in bad_ids for example in train):
        raise MlmkitError(
            f"{config.train}: none of the {len(train)} training question(s) has an answer_start that points at its "
            "answer text, so there is nothing to fine-tune on; fix the offsets (context[answer_start:][:len(text)] "
            "must equal the text), or pass --epochs 0 to score the model as it is"
        )
    decoded = train_and_predict(config, train, dev, bad_ids)
    predictions, results = score(dev, decoded, config)
    evaluate = evaluate_v1 if config.version == "1.1" else evaluate_v2
    baseline = evaluate(dev, first_sentence_predictions(dev))
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "predictions.json").write_text(json.dumps(predictions, indent=1, ensure_ascii=False), encoding="utf-8")
    (out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    (out / "baseline.json").write_text(json.dumps(baseline, indent=1), encoding="utf-8")
    if config.version == "2.0":
        null_odds = {qid: d.score_diff for qid, d in decoded.items()}
        (out / "null_odds.json").write_text(json.dumps(null_odds, indent=1), encoding="utf-8")
    print(format_table(results, baseline))
    return results
