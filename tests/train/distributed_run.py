"""Run under `accelerate launch` by test_distributed.py: pretrain through the CLI, then record which blocks each
process trains on in epoch 0 (the loop's loader, prepared as the loop prepares it) as JSON in argv[2]."""

from __future__ import annotations

import json
import sys

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object

from mlmkit.cli import main
from mlmkit.config import load_recipe
from mlmkit.train.objectives import IGNORE_INDEX
from mlmkit.train.setup import build_parts

if __name__ == "__main__":
    recipe, shards_path = sys.argv[1], sys.argv[2]
    if main(["pretrain", recipe]) != 0:
        sys.exit(1)
    accelerator = Accelerator()
    parts = build_parts(load_recipe(recipe), accelerator)
    loader = accelerator.prepare(parts.train_loader)
    loader.set_epoch(0)
    blocks = []
    for batch in loader:
        original = torch.where(batch["labels"] != IGNORE_INDEX, batch["labels"], batch["input_ids"])  # undo the masking
        blocks += [" ".join(map(str, row)) for row in original.tolist()]
    shards = gather_object([blocks])
    if accelerator.is_main_process:
        with open(shards_path, "w", encoding="utf-8") as handle:
            json.dump(shards, handle)
