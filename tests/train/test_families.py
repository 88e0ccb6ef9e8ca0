"""Every masked-LM family users pick: pretrain a tiny random model with the sparse head, save, reload, fine-tune.

Per family: the sparse head is used (not the fallback) and gives the dense head's loss and gradients on
a real collator batch; 5 steps of the loop; `final/` reloads with AutoModelForMaskedLM to the trained
weights; `mlmkit glue` fine-tunes it 5 steps on the shipped SST-2 sample (the default --data-dir) and `mlmkit squad` fine-tunes
it on a few SQuAD questions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from mlmkit.cli import main
from mlmkit.config import load_recipe
from mlmkit.train import pretrain
from mlmkit.train.objectives import MaskedLMModule
from mlmkit.train.setup import build_collators, build_masked_lm

# family id -> (model section, tokenizer kind, the class AutoModelForMaskedLM reloads)
FAMILIES = {
    "bert": ({"family": "bert"}, "wordpiece", "BertForMaskedLM"),
    "roberta": ({"family": "roberta"}, "bpe", "RobertaForMaskedLM"),
    "modernbert": ({"family": "modernbert"}, "bpe", "ModernBertForMaskedLM"),
    "deberta-v2": ({"family": "auto", "config": {"model_type": "deberta-v2"}}, "wordpiece", "DebertaV2ForMaskedLM"),
    "distilbert": ({"family": "auto", "config": {"model_type": "distilbert"}}, "wordpiece", "DistilBertForMaskedLM"),
    "albert": ({"family": "auto", "config": {"model_type": "albert", "embedding_size": 16}}, "unigram", "AlbertForMaskedLM"),
    "electra": ({"family": "auto", "config": {"model_type": "electra", "embedding_size": 16}}, "wordpiece", "ElectraForMaskedLM"),
    "xlm-roberta": ({"family": "auto", "config": {"model_type": "xlm-roberta"}}, "bpe", "XLMRobertaForMaskedLM"),
}


@pytest.fixture(scope="module")
def blocks(trained_tokenizers: dict[str, Path], small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """32-token blocks with a validation split (one of its four articles), per tokenizer kind, from the first 60 KB of the small corpus."""
    from mlmkit.data.pipeline import prepare_dataset
    from mlmkit.data.tokenizer import load_mlm_tokenizer

    root = tmp_path_factory.mktemp("family_blocks")
    text = root / "text.raw"
    text.write_text(small_corpus.read_text(encoding="utf-8")[:60_000], encoding="utf-8")
    prepared = {}
    for kind, folder in trained_tokenizers.items():
        prepared[kind] = root / kind
        prepare_dataset(load_mlm_tokenizer(folder), seq_len=32, out_dir=prepared[kind], corpus_files=[text], validation_fraction=0.25)
    return prepared


def family_recipe(family: str, trained_tokenizers, blocks, out: Path) -> Path:
    model, kind, _ = FAMILIES[family]
    recipe = {
        "tokenizer": {"path": str(trained_tokenizers[kind])},
        "data": {"path": str(blocks[kind]), "seq_len": 32, "max_eval_blocks": 16},
        "model": {"size": "tiny", **model},  # L=2, H=128 (DistilBERT's feed-forward width through its alias)
        "collator": {"name": "random", "options": {"mlm_probability": 0.15}},
        "train": {"max_steps": 5, "batch_size": 8, "lr": 1e-3, "warmup_steps": 1, "log_every": 1,
                  "eval_every": 5, "eval_batch_size": 16, "save_every": 5, "seed": 3},
        "output_dir": str(out),
    }
    path = out.parent / f"{family}.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def sparse_and_dense(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[bool, tuple[torch.Tensor, dict]]:
    """Loss and parameter gradients of the sparse and the dense head on `batch` (eval mode: no dropout)."""
    model.eval()
    results = {}
    for sparse in (True, False):
        module = MaskedLMModule(model, sparse=sparse)
        assert module.sparse is sparse, "the sparse head fell back to the dense one"
        model.zero_grad()
        loss = module(**batch)["loss"]
        loss.backward()
        results[sparse] = (loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None})
    model.train()
    return results


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_pretrains_with_the_sparse_head_reloads_and_fine_tunes(
    family: str, trained_tokenizers, blocks, shared_data: Path, tmp_path: Path
) -> None:
    from datasets import load_from_disk
    from transformers import AutoModelForMaskedLM

    config = load_recipe(family_recipe(family, trained_tokenizers, blocks, tmp_path / "run"))
    from mlmkit.data.tokenizer import load_mlm_tokenizer

    tokenizer = load_mlm_tokenizer(config.tokenizer.path)
    collator, _ = build_collators(config, tokenizer, process_index=0)
    batch = collator([dict(row) for row in load_from_disk(config.data.path)["train"].select(range(8))])
    results = sparse_and_dense(build_masked_lm(config, tokenizer), batch)
    torch.testing.assert_close(results[True][0], results[False][0], rtol=1e-5, atol=1e-6)
    assert results[True][1].keys() == results[False][1].keys()
    for name, grad in results[True][1].items():
        torch.testing.assert_close(grad, results[False][1][name], rtol=1e-4, atol=1e-6, msg=name)

    result = pretrain(config)
    assert result.step == 5 and torch.isfinite(torch.tensor(result.loss))
    reloaded = AutoModelForMaskedLM.from_pretrained(result.final_dir, local_files_only=True)
    assert type(reloaded).__name__ == FAMILIES[family][2]
    trained = result.model.state_dict()
    for name, value in reloaded.state_dict().items():
        torch.testing.assert_close(value, trained[name], rtol=0, atol=0, msg=name)

    glue_out = tmp_path / "glue"
    assert main([
        "glue", "--model", str(result.final_dir), "--task", "sst2",
        "--max-train-samples", "40", "--batch-size", "8", "--epochs", "1", "--max-eval-samples", "16", "--out", str(glue_out),
    ]) == 0  # fmt: skip
    glue = json.loads((glue_out / "results.json").read_text())
    assert 0.0 <= glue["results"]["sst2"]["accuracy"] <= 1.0

    squad_out = tmp_path / "squad"
    assert main([
        "squad", "--model", str(result.final_dir), "--version", "1.1", "--train", str(shared_data / "squad" / "dev-v1.1.sample.json"),
        "--split-by-article", "0.34", "--max-train-samples", "8", "--max-eval-samples", "8", "--epochs", "1",
        "--batch-size", "8", "--max-length", "128", "--doc-stride", "32", "--out", str(squad_out),
    ]) == 0  # fmt: skip
    assert {"exact_match", "f1"} <= set(json.loads((squad_out / "results.json").read_text()))
