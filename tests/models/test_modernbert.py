"""ModernBERT as a first-class family: the paper's sizes, the recipe's settings, every masking strategy on byte-level BPE."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mlmkit import build_collator
from mlmkit.config import load_recipe
from mlmkit.data.tokenizer import load_mlm_tokenizer
from mlmkit.masking import MASKERS
from mlmkit.models.factory import build_model, build_model_config, new_model
from mlmkit.recipes import recipe_path
from mlmkit.train.objectives import MaskedLMModule

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RECIPE = recipe_path("modernbert-base")
MLM_STRATEGIES = [name for name in MASKERS if getattr(MASKERS[name], "collator_defaults", {}).get("output", "mlm") == "mlm"]


class PaperVocabulary:
    """ModernBERT's tokenizer as far as the factory sees it: 50,368 ids, <s>/<pad>/</s> as in our BPE kind."""

    pad_token_id, bos_token_id, eos_token_id, cls_token_id, sep_token_id = 1, 0, 2, None, None

    def __len__(self) -> int:
        return 50368


@pytest.mark.parametrize(("size", "parameters"), [("base", 149_655_232), ("large", 395_881_664)])
def test_base_and_large_have_the_papers_shapes(size: str, parameters: int) -> None:
    """Warner et al. 2024: 22 / 28 layers, 149M / 395M parameters, global attention every third layer."""
    config = build_model_config("modernbert", size, PaperVocabulary(), 1024, {})
    with torch.device("meta"):
        model = new_model("modernbert", config)
    assert sum(p.numel() for p in model.parameters()) == parameters
    assert config.layer_types[:4] == ["full_attention", "sliding_attention", "sliding_attention", "full_attention"]
    assert config.local_attention == 128 and (config.cls_token_id, config.sep_token_id) == (0, 2)


def test_the_recipe_sets_the_papers_phase_one(tmp_path: Path) -> None:
    from mlmkit.train.plan import plan_run

    config = load_recipe(RECIPE, [f"output_dir={tmp_path}"])
    assert config.collator.options["mlm_probability"] == 0.30 and config.data.seq_len == 1024
    assert config.data.document_attention == "block" and config.train.compile  # the paper's packing, compiled on a GPU
    assert (config.train.lr, tuple(config.train.betas), config.train.eps, config.train.weight_decay) == (8e-4, (0.9, 0.98), 1e-6, 1e-5)
    assert config.train.batch_size * config.train.gradient_accumulation_steps == 4608
    plan = plan_run(config)
    assert plan["parameters"] == 149_655_232 and plan["model"].startswith("modernbert (ModernBertForMaskedLM, 22 layers)")
    model_config = build_model_config("modernbert", "base", PaperVocabulary(), 1024, config.model.config)
    assert {layer: rope["rope_theta"] for layer, rope in model_config.rope_parameters.items()} == {
        "full_attention": 10000.0, "sliding_attention": 10000.0
    }


@pytest.fixture(scope="module")
def bpe_features(trained_tokenizers: dict[str, Path], small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """24 packed 64-token rows of byte-level BPE with their word ids (`mlmkit data prepare`)."""
    from datasets import load_from_disk

    from mlmkit.data.pipeline import prepare_dataset

    folder = tmp_path_factory.mktemp("bpe_rows")
    text = folder / "text.raw"
    text.write_text(small_corpus.read_text(encoding="utf-8")[:20_000], encoding="utf-8")
    prepare_dataset(load_mlm_tokenizer(trained_tokenizers["bpe"]), seq_len=64, out_dir=folder / "rows", corpus_files=[text])
    return [dict(row) for row in load_from_disk(str(folder / "rows")).select(range(24))]


@pytest.fixture(scope="module")
def bpe_stats(trained_tokenizers, small_corpus, minilm_path, shared_data, tmp_path_factory) -> dict[str, Path]:
    """Statistics of the informed strategies for the BPE tokenizer (Difference: BC5CDR vs WikiText, MiniLM embeds words)."""
    from mlmkit.stats.difference import build_difference_stats
    from mlmkit.stats.informask import build_informask_stats
    from mlmkit.stats.pmi import build_pmi_stats
    from mlmkit.stats.rom import build_rom_stats

    tokenizer = load_mlm_tokenizer(trained_tokenizers["bpe"])
    root = tmp_path_factory.mktemp("bpe_stats")
    stats = {name: build(tokenizer, [small_corpus], root / f"{name}.safetensors")
             for name, build in (("pmi", build_pmi_stats), ("informask", build_informask_stats), ("rom", build_rom_stats))}
    domain = root / "bc5cdr.txt"
    lines = (shared_data / "domain" / "bc5cdr" / "bc5cdr_abstracts.txt").read_text(encoding="utf-8").splitlines()
    domain.write_text("\n".join(lines[:300]) + "\n", encoding="utf-8")
    stats["difference"] = build_difference_stats(
        tokenizer, [domain], [small_corpus], minilm_path, root / "difference.safetensors", device="cpu", max_words=300
    )
    return stats


@pytest.mark.parametrize("strategy", MLM_STRATEGIES)
def test_every_masking_strategy_trains_modernbert_on_byte_level_bpe(strategy, trained_tokenizers, bpe_features, bpe_stats) -> None:
    tokenizer = load_mlm_tokenizer(trained_tokenizers["bpe"])
    options = {"stats": str(bpe_stats[strategy])} if strategy in bpe_stats else {}
    collator = build_collator(strategy, tokenizer, seed=0, **options)
    collator.set_total_batches(10)  # the content schedule (interpolated) needs the run length
    batch = collator(bpe_features[:8])
    labelled = batch["labels"] != -100
    special = torch.isin(torch.where(labelled, batch["labels"], batch["input_ids"]), torch.tensor(tokenizer.all_special_ids))
    assert labelled.any() and not (labelled & special).any()
    model = build_model("modernbert", build_model_config("modernbert", "tiny", tokenizer, 64, {}), seed=0)
    module = MaskedLMModule(model)
    assert module.sparse
    outputs = module(**batch)
    outputs["loss"].backward()
    assert torch.isfinite(outputs["loss"]) and outputs["row_count"].sum() == labelled.sum()
    assert model.model.embeddings.tok_embeddings.weight.grad.abs().sum() > 0
