"""The fine-tuning loop shared by the GLUE and SQuAD harnesses (Accelerate, one process or many)."""

from __future__ import annotations

import math
from typing import Iterable

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from mlmkit.train.optim import build_lr_scheduler, build_optimizer


def finetune(
    model: torch.nn.Module,
    train_loader: torch.utils.data.DataLoader,
    accelerator: Accelerator,
    *,
    epochs: float,
    lr: float,
    warmup_ratio: float = 0.1,
    weight_decay: float = 0.01,
    max_grad_norm: float = 1.0,
    desc: str = "fine-tune",
) -> torch.nn.Module:
    """Train `model` on batches whose forward returns `.loss`; returns the prepared model.

    `epochs` may be fractional (0.5 = half an epoch). LR: linear warm-up over
    `warmup_ratio` of the steps, then linear decay to zero, as in BERT's fine-tuning.
    """
    optimizer = build_optimizer(model, lr=lr, weight_decay=weight_decay)
    model, optimizer, train_loader = accelerator.prepare(model, optimizer, train_loader)
    total_steps = max(1, math.ceil(len(train_loader) * epochs))
    scheduler = build_lr_scheduler(optimizer, int(warmup_ratio * total_steps), total_steps)
    model.train()
    progress = tqdm(total=total_steps, desc=desc, disable=not accelerator.is_local_main_process)
    step = 0
    while step < total_steps:
        for batch in train_loader:
            loss = model(**batch).loss
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            progress.update(1)
            progress.set_postfix(loss=f"{loss.item():.4f}")
            if step >= total_steps:
                break
    progress.close()
    return model


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    loader: torch.utils.data.DataLoader,
    accelerator: Accelerator,
    output_names: Iterable[str] = ("logits",),
    desc: str = "predict",
) -> dict[str, torch.Tensor]:
    """Run `model` over `loader` and return the named outputs, concatenated over all batches
    (gathered across processes, padding duplicates dropped), on the CPU."""
    loader = accelerator.prepare(loader)
    model.eval()
    collected: dict[str, list[torch.Tensor]] = {name: [] for name in output_names}
    for batch in tqdm(loader, desc=desc, disable=not accelerator.is_local_main_process, leave=False):
        batch.pop("labels", None)
        outputs = model(**batch)
        for name in collected:
            gathered = accelerator.gather_for_metrics(outputs[name].contiguous())
            collected[name].append(gathered.float().cpu())
    model.train()
    return {name: torch.cat(parts) for name, parts in collected.items()}
