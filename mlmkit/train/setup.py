"""Build what a run needs from its config: tokenizer, model, collators and data loaders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from mlmkit.config import RunConfig
from mlmkit.data.words import special_token_ids
from mlmkit.errors import MlmkitError
from mlmkit.models.factory import build_model, build_model_config, check_compatible, model_class, set_attention
from mlmkit.train.inputs import resolve_datasets, resolve_tokenizer


class EpochSampler(torch.utils.data.Sampler):
    """A fresh permutation per epoch from a generator seeded with (seed, epoch).

    The order depends only on the seed and the epoch, so a resumed run can skip to the same batch
    (RoBERTa/fairseq seed data order the same way).
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


@dataclass
class RunParts:
    """The non-Accelerate pieces of a run."""

    tokenizer: Any
    model: torch.nn.Module
    train_collator: Any
    eval_collator: Any
    train_loader: torch.utils.data.DataLoader
    eval_loader: torch.utils.data.DataLoader
    special_ids: torch.Tensor  # (S,) ids never masked


def build_parts(config: RunConfig, accelerator: Any) -> RunParts:
    """Tokenizer (trained once on the main process), blocks, model, collators and loaders."""
    output_dir = Path(config.output_dir)
    with accelerator.main_process_first():
        tokenizer = resolve_tokenizer(config, output_dir)
        train_blocks, eval_blocks = resolve_datasets(config, tokenizer, output_dir)
    model = build_masked_lm(config, tokenizer)
    train_collator, eval_collator = build_collators(config, tokenizer, accelerator.process_index, accelerator.num_processes)
    sampler = EpochSampler(len(train_blocks), config.train.seed)
    # An own generator: creating a DataLoader iterator otherwise draws from the global RNG, which would
    # shift dropout after a resume (the iterator is created after the RNG state is restored).
    common = {
        "num_workers": config.train.num_workers,
        "pin_memory": torch.cuda.is_available(),
        "generator": torch.Generator().manual_seed(config.train.seed),
    }
    train_loader = torch.utils.data.DataLoader(
        train_blocks, batch_size=config.train.batch_size, sampler=sampler, collate_fn=train_collator,
        drop_last=True, **common,
    )
    eval_loader = torch.utils.data.DataLoader(
        eval_blocks, batch_size=config.train.eval_batch_size, shuffle=False, collate_fn=eval_collator, **common
    )
    special_ids = torch.tensor(special_token_ids(tokenizer), dtype=torch.long)
    return RunParts(tokenizer, model, train_collator, eval_collator, train_loader, eval_loader, special_ids)


def document_separator(config: RunConfig, tokenizer: Any) -> int | None:
    """The id that ends each document of a block when documents are kept apart (data.document_attention:
    block), else None: the separator packing writes after every document (`mlmkit.models.documents`)."""
    if config.data.document_attention == "none":
        return None
    if tokenizer.sep_token_id is None:
        raise MlmkitError(
            f"data.document_attention=block finds documents by the separator token, and tokenizer {type(tokenizer).__name__} has none; "
            "use a tokenizer with a sep token (mlmkit's own have one) or set data.document_attention=none"
        )
    return tokenizer.sep_token_id


def build_masked_lm(config: RunConfig, tokenizer: Any) -> torch.nn.Module:
    """The model: continued from model.path (a folder or a Hub id), or new from family × size (+ model.config fields).

    With model.late_mask the standard model is wrapped as a 3ML late-mask model, or a late-mask
    checkpoint (a folder with `late_mask/`) is continued as one.
    """
    late_mask = config.model.late_mask
    if late_mask is None:
        return _standard_masked_lm(config, tokenizer)
    from mlmkit.models.late_mask import LateMaskForMaskedLM, is_late_mask_folder

    if config.model.path and is_late_mask_folder(config.model.path):
        model = LateMaskForMaskedLM.from_pretrained(config.model.path, settings=late_mask)
        check_compatible(model.config, tokenizer, config.data.seq_len)
        return model
    return LateMaskForMaskedLM(_standard_masked_lm(config, tokenizer), late_mask, tokenizer.mask_token_id, config.train.seed)


def _standard_masked_lm(config: RunConfig, tokenizer: Any) -> torch.nn.Module:
    if config.model.path:
        from transformers import AutoModelForMaskedLM

        from mlmkit.models.loading import load_model

        # MASS continues in its own class (BART that takes decoder positions); its checkpoints are plain BART.
        auto_class = model_class("mass") if config.model.family == "mass" else AutoModelForMaskedLM
        model = load_model(config.model.path, auto_class, what="model.path")
        check_compatible(model.config, tokenizer, config.data.seq_len)
    else:
        model_config = build_model_config(
            config.model.family, config.model.size, tokenizer, config.data.seq_len, config.model.config
        )
        model = build_model(config.model.family, model_config, config.train.seed)
    return set_attention(model, config.model.attn_implementation)


def build_collators(config: RunConfig, tokenizer: Any, process_index: int = 0, num_processes: int = 1) -> tuple[Any, Any]:
    """The training collator and the evaluation one.

    Every process masks its batches by their global index (`set_process`), so N processes mask exactly as
    one process with N-fold gradient accumulation does. A masked LM
    (standard or late-mask) is evaluated with the one held-out measure (`mlmkit.eval.held_out`: fixed
    [MASK]-only masks, a function of each block), so its numbers compare across runs and strategies; an
    encoder-decoder (MASS) with its own collator at a fixed seed and no schedule.
    """
    from mlmkit.collators import build_collator
    from mlmkit.eval.held_out import HeldOutCollator

    options = dict(config.collator.options)
    seed = options.pop("seed", config.train.seed)
    schedule = config.collator.schedule
    train_collator = build_collator(config.collator.name, tokenizer, seed=seed, schedule=schedule, **options)
    train_collator.set_process(process_index, num_processes)
    if train_collator.output in ("mlm", "late_mask"):
        return train_collator, HeldOutCollator(tokenizer, output=train_collator.output)
    return train_collator, build_collator(config.collator.name, tokenizer, seed=seed, **options)
