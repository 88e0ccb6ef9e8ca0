"""Models and tokenizers by folder or Hub id: one fast line where the Hub cannot help, the cache offline, the
real model in --dry-run, and late-mask refused for families other than BERT/RoBERTa."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlmkit.cli import main

RECIPE = "tiny-cpu"  # the shipped recipe, by name
MISSING_ID = "mlmkit-tests/no-such-model"


def commands(tmp_path: Path, shared_data: Path) -> dict[str, list[str]]:
    """Every argument that takes a model or tokenizer, given an id that no cache and no Hub has."""
    squad = str(shared_data / "squad" / "dev-v1.1.sample.json")
    return {
        "glue --model": ["glue", "--model", MISSING_ID, "--task", "sst2", "--out", str(tmp_path / "g")],
        "squad --model": ["squad", "--model", MISSING_ID, "--version", "1.1", "--train", squad, "--split-by-article", "0.3",
                          "--out", str(tmp_path / "s")],
        "show-mask --tokenizer": ["show-mask", "--tokenizer", MISSING_ID, "some text"],
        "model.path": ["pretrain", RECIPE, f"model.path={MISSING_ID}", f"output_dir={tmp_path / 'p'}", "--dry-run"],
        "tokenizer.path": ["pretrain", RECIPE, f"tokenizer.path={MISSING_ID}", f"output_dir={tmp_path / 'p'}", "--dry-run"],
    }


@pytest.mark.parametrize("offline", [True, False], ids=["HF_HUB_OFFLINE", "online"])
@pytest.mark.parametrize("argument", ["glue --model", "squad --model", "show-mask --tokenizer", "model.path", "tokenizer.path"])
def test_a_hub_id_that_cannot_be_had_is_one_fast_line(argument, offline, tmp_path, shared_data, monkeypatch, capsys) -> None:
    """Offline: no request at all. Online: one short request (no DNS here: unreachable; elsewhere: no such repo),
    instead of huggingface_hub's ~30 s of retries and a traceback."""
    if offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    started = time.perf_counter()
    assert main(commands(tmp_path, shared_data)[argument]) == 2
    elapsed = time.perf_counter() - started
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and f"{MISSING_ID!r} is not a local folder" in error
    assert ("HF_HUB_OFFLINE is set" in error) if offline else ("cannot be reached" in error or "no Hub model has that id" in error)
    assert elapsed < 8.0, elapsed


def test_a_path_that_does_not_exist_is_not_sent_to_the_hub(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert main(["show-mask", "--tokenizer", str(tmp_path / "nowhere"), "text"]) == 2
    error = capsys.readouterr().err
    assert "does not exist" in error and "Hub cannot be reached" not in error


def fake_hub_cache(cache: Path, repo_id: str, folder: Path) -> None:
    """`folder` laid out as huggingface_hub caches a download of `repo_id` (refs/main -> one snapshot)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def test_a_cached_hub_id_loads_offline_in_dry_run_and_show_mask(minilm_path: Path, tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    fake_hub_cache(cache, "mlmkit-tests/minilm", minilm_path)
    script = (
        "import sys; from mlmkit.cli import main; "
        f"code = main(['pretrain', {RECIPE!r}, 'model.path=mlmkit-tests/minilm', 'output_dir={tmp_path / 'run'}', '--dry-run']); "
        "code = code or main(['show-mask', '--tokenizer', 'mlmkit-tests/minilm', '--colour', 'never', 'Naloxone reverses clonidine']); "
        "sys.exit(code)"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "model: bert (BertForMaskedLM, 6 layers), continued from model.path mlmkit-tests/minilm" in done.stdout
    assert "[" in done.stdout and "nal" in done.stdout.lower()  # the MiniLM WordPiece pieces, some masked


def test_dry_run_reports_the_model_that_will_be_trained(minilm_path: Path, tmp_path: Path, capsys) -> None:
    from transformers import AutoConfig, AutoModelForMaskedLM

    assert main(["pretrain", RECIPE, f"model.path={minilm_path}", f"output_dir={tmp_path}", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    parameters = sum(p.numel() for p in AutoModelForMaskedLM.from_config(AutoConfig.from_pretrained(minilm_path)).parameters())
    assert f"model: bert (BertForMaskedLM, 6 layers), continued from model.path {minilm_path}" in printed
    assert f"parameters: {parameters}\n" in printed and parameters > 22_000_000

    assert main(["pretrain", RECIPE, "model.family=deberta-v2", f"output_dir={tmp_path}", "--dry-run"]) == 2
    assert "for deberta-v2, set model.family=auto and model.config.model_type=deberta-v2" in capsys.readouterr().err
    overrides = ["model.family=auto", "model.config={model_type: deberta-v2}", f"output_dir={tmp_path}", "--dry-run"]
    assert main(["pretrain", RECIPE, *overrides]) == 0
    assert "model: deberta-v2 (DebertaV2ForMaskedLM, 2 layers), new: model.family auto, model.size tiny" in capsys.readouterr().out


@pytest.fixture(scope="module")
def distilbert_folder(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    """A tiny random DistilBERT masked LM saved with the MiniLM tokenizer."""
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertForMaskedLM

    folder = tmp_path_factory.mktemp("distilbert")
    config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64)
    DistilBertForMaskedLM(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(str(minilm_path)).save_pretrained(folder)
    return folder


def test_late_mask_refuses_other_families_in_one_line(distilbert_folder: Path, tmp_path: Path, capsys) -> None:
    late = ["model.late_mask={late_layers: 1}", "collator.options.output=late_mask", f"output_dir={tmp_path}"]
    assert main(["pretrain", RECIPE, "model.family=bert", f"model.path={distilbert_folder}", *late, "--dry-run"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "model.late_mask (3ML) works with model_type in ['bert', 'roberta'], got a 'distilbert' model" in error
    assert main(["pretrain", RECIPE, "model.family=modernbert", *late, "--dry-run"]) == 2
    assert "model.late_mask works with model.family bert or roberta, got 'modernbert'" in capsys.readouterr().err


def test_continuing_a_folder_uses_its_tokenizer(distilbert_folder: Path, tmp_path: Path) -> None:
    from mlmkit.config import load_recipe
    from mlmkit.recipes import recipe_path
    from mlmkit.train.inputs import resolve_tokenizer

    config = load_recipe(recipe_path(RECIPE), [f"model.path={distilbert_folder}", f"output_dir={tmp_path}"])
    assert config.tokenizer.path is None and config.tokenizer.vocab_size == 4000
    assert len(resolve_tokenizer(config, tmp_path)) == 30522  # MiniLM's WordPiece, not a new 4000-id one
    assert not (tmp_path / "tokenizer").exists()
