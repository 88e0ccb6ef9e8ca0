"""Units: which tokens are masked together (a token, a word, a span of words).

Every strategy describes its units as `unit_ids (B, T)`: per row 0..U_b-1 in order of appearance,
-1 where a position can not be masked. Units are contiguous runs of positions. Words are not decided
here: the collator hands strategies word ids from the data stage (`mlmkit.data.words`); strategies
group words further (spans, n-grams).
"""

from __future__ import annotations

import torch

from mlmkit.data.words import number_runs


def token_unit_ids(maskable: torch.Tensor) -> torch.Tensor:
    """Unit ids where every maskable position is its own unit: LongTensor (B, T), -1 elsewhere."""
    return number_runs(maskable, torch.ones_like(maskable))


def count_units(unit_ids: torch.Tensor) -> int:
    """Number of unit columns a batch needs: the largest unit id + 1 (0 for an empty batch)."""
    return int(unit_ids.max()) + 1 if unit_ids.numel() else 0


def unit_lengths(unit_ids: torch.Tensor, num_units: int | None = None) -> torch.Tensor:
    """Count the tokens of every unit: LongTensor (B, U), U = num_units or the largest unit id + 1."""
    if num_units is None:
        num_units = count_units(unit_ids)
    lengths = torch.zeros(unit_ids.shape[0], num_units + 1, dtype=torch.long)
    # Column 0 collects the -1 positions so that one scatter serves every row.
    lengths.scatter_add_(1, unit_ids + 1, torch.ones_like(unit_ids))
    return lengths[:, 1:]
