"""Fine-tune an encoder-decoder on a text-to-text task and score its generations: the library side of `mlmkit seq2seq`.

With `compare_scratch`, the same architecture is also trained from a random initialisation with the
same data, steps, learning rate and seed, so the gain from pretraining (MASS §4: pretraining helps most
where fine-tuning data is scarce) is measured, not assumed. Scores are ROUGE-L (rouge-score) and
BLEU (sacreBLEU) from `mlmkit.eval.seq2seq_metrics`, on greedy (or beam) generations.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from mlmkit.data.corpus import check_corpus_files, default_corpus_path
from mlmkit.data.output_folder import check_writable_folder
from mlmkit.errors import MlmkitError
from mlmkit.eval.finetune import finetune
from mlmkit.eval.seq2seq_data import collate_pairs, encode_pairs, read_pairs, restoration_pairs, split_documents
from mlmkit.eval.seq2seq_metrics import generation_scores
from mlmkit.masking.mass import decoder_start_token_id
from mlmkit.models.loading import check_model_folder, load_model, load_tokenizer


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Options of one `mlmkit seq2seq` run (defaults sized for a CPU and a tiny model)."""

    model: str
    out: str
    corpus: str | None = None
    train: str | None = None
    eval: str | None = None
    eval_fraction: float = 0.1
    max_train_samples: int | None = 4000
    max_eval_samples: int | None = 300
    steps: int = 500
    lr: float = 3e-4
    batch_size: int = 32
    max_source_length: int = 64
    max_target_length: int = 64
    num_beams: int = 1
    seed: int = 0
    compare_scratch: bool = False


def load_task(config: Seq2SeqConfig) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(train, eval) pairs: the user's JSON lines, or function-word restoration on a corpus's documents."""
    if (config.train is None) != (config.eval is None):
        raise MlmkitError("pass both --train and --eval (JSON lines of source/target pairs), or neither to use the built-in task")
    if config.train is not None:
        if config.corpus is not None:
            raise MlmkitError("--corpus builds the built-in task; it cannot be combined with --train/--eval")
        train, evaluation = read_pairs(config.train), read_pairs(config.eval)
    else:
        (corpus,) = check_corpus_files([config.corpus or default_corpus_path()])
        train_documents, eval_documents = split_documents(corpus, config.eval_fraction)
        train, evaluation = restoration_pairs(train_documents), restoration_pairs(eval_documents)
    return train[: config.max_train_samples], evaluation[: config.max_eval_samples]


def run_seq2seq(config: Seq2SeqConfig) -> dict[str, Any]:
    """Fine-tune (and with `compare_scratch` also train from scratch), generate, score; write OUT/results.json.

    Returns:
        `{"pretrained": {"rouge_l", "bleu"}, "scratch": {...} (optional), "copy_source": {...}, ...}`; the
        copy-the-source row is the floor a model has to beat.
    """
    from accelerate import Accelerator
    from transformers import AutoConfig, AutoModelForSeq2SeqLM

    check_model_folder(config.model)
    check_writable_folder(config.out)
    tokenizer = load_tokenizer(config.model)
    train_pairs, eval_pairs = load_task(config)
    start = decoder_start_token_id(tokenizer)
    train_features = encode_pairs(tokenizer, train_pairs, start, config.max_source_length, config.max_target_length)
    eval_features = encode_pairs(tokenizer, eval_pairs, start, config.max_source_length, config.max_target_length)
    accelerator = Accelerator()
    variants = {"pretrained": lambda: load_model(config.model, AutoModelForSeq2SeqLM)}
    if config.compare_scratch:
        model_config = AutoConfig.from_pretrained(config.model, local_files_only=True)
        variants["scratch"] = lambda: AutoModelForSeq2SeqLM.from_config(model_config)
    results: dict[str, Any] = {"config": asdict(config), "train_pairs": len(train_pairs), "eval_pairs": len(eval_pairs)}
    results["copy_source"] = generation_scores([pair["source"] for pair in eval_pairs], [pair["target"] for pair in eval_pairs])
    predictions = {}
    for name, build in variants.items():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)  # same initial weights, dropout and data order for every variant
            model = build()
            model = _train(model, train_features, tokenizer.pad_token_id, accelerator, config, name)
            predictions[name] = generate(accelerator.unwrap_model(model), tokenizer, eval_features, config)
        results[name] = generation_scores(predictions[name], [pair["target"] for pair in eval_pairs])
        accelerator.print(f"{name}: ROUGE-L {results[name]['rouge_l']:.2f}  BLEU {results[name]['bleu']:.2f}")
    if accelerator.is_main_process:
        _write(Path(config.out), results, eval_pairs, predictions)
    return results


def _train(model: Any, features: list[dict], pad_token_id: int, accelerator: Any, config: Seq2SeqConfig, name: str) -> Any:
    """`config.steps` optimizer steps of the shared fine-tuning loop (BERT-style warm-up and linear decay)."""
    if config.steps <= 0:
        return model
    loader = torch.utils.data.DataLoader(
        features, batch_size=config.batch_size, shuffle=True, drop_last=len(features) > config.batch_size,
        generator=torch.Generator().manual_seed(config.seed),
        collate_fn=lambda batch: collate_pairs(batch, pad_token_id),
    )  # fmt: skip
    # finetune() runs ceil(len(loader) × epochs) steps; the half step keeps float rounding from adding one.
    epochs = (config.steps - 0.5) / len(loader)
    return finetune(model, loader, accelerator, epochs=epochs, lr=config.lr, desc=f"fine-tune {name}")


@torch.no_grad()
def generate(model: Any, tokenizer: Any, features: list[dict], config: Seq2SeqConfig) -> list[str]:
    """Greedy (or beam) generations for `features`, decoded without special tokens."""
    model.eval()
    texts: list[str] = []
    batch_size = max(1, config.batch_size)
    for begin in tqdm(range(0, len(features), batch_size), desc="generate"):
        batch = collate_pairs(features[begin : begin + batch_size], tokenizer.pad_token_id)
        batch = {key: value.to(model.device) for key, value in batch.items() if key != "labels"}
        output = model.generate(
            **batch, max_new_tokens=config.max_target_length, num_beams=config.num_beams, do_sample=False
        )
        texts.extend(tokenizer.batch_decode(output, skip_special_tokens=True))
    model.train()
    return texts


def _write(out: Path, results: dict[str, Any], pairs: list[dict[str, str]], predictions: dict[str, list[str]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    with open(out / "predictions.jsonl", "w", encoding="utf-8") as handle:
        for index, pair in enumerate(pairs):
            row = {**pair, **{name: texts[index] for name, texts in predictions.items()}}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
