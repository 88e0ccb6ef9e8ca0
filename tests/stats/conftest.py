"""Fixtures for the statistics-builder tests: the real MiniLM tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tokenizer(minilm_path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_path), local_files_only=True)
