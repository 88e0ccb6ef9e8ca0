"""Fixtures for the pretraining tests: a prepared block dataset and a tiny recipe writer."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import yaml

# A model small enough that a step takes milliseconds on one CPU core.
TINY_MODEL = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run several times faster on one thread when other jobs share the CPU cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def prepared_blocks(trained_tokenizers: dict[str, Path], small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Blocks of 32 tokens with a document-level validation split, from the small corpus."""
    from mlmkit.data.pipeline import prepare_dataset
    from mlmkit.data.tokenizer import load_mlm_tokenizer

    tokenizer = load_mlm_tokenizer(trained_tokenizers["wordpiece"])
    out = tmp_path_factory.mktemp("blocks") / "wiki32"
    prepare_dataset(tokenizer, seq_len=32, out_dir=out, corpus_files=[small_corpus], validation_fraction=0.1)
    return out


@pytest.fixture
def write_recipe(trained_tokenizers: dict[str, Path], prepared_blocks: Path, tmp_path: Path) -> Callable[..., Path]:
    """Write a tiny recipe (1-layer BERT, prepared blocks, 8 steps) with `train` fields overridden."""

    def write(output_dir: Path, **train: object) -> Path:
        recipe = {
            "tokenizer": {"path": str(trained_tokenizers["wordpiece"])},
            "data": {"path": str(prepared_blocks), "seq_len": 32, "max_eval_blocks": 32},
            "model": {"family": "bert", "size": "tiny", "config": TINY_MODEL},
            "collator": {"name": "random", "options": {"mlm_probability": 0.15}},
            "train": {"max_steps": 8, "batch_size": 8, "lr": 1e-3, "warmup_steps": 2, "log_every": 1,
                      "eval_every": 4, "eval_batch_size": 16, "save_every": 4, "seed": 3, **train},
            "output_dir": str(output_dir),
        }
        path = tmp_path / f"recipe-{len(list(tmp_path.glob('recipe-*')))}.yaml"
        path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
        return path

    return write
