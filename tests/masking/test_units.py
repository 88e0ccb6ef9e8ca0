"""The budget rule of every strategy."""

from __future__ import annotations

import torch

from mlmkit.masking import token_budget


def test_budget_rounds_and_keeps_at_least_one():
    maskable = torch.arange(100).unsqueeze(0) < torch.tensor([[0], [1], [5], [10], [100]])
    assert token_budget(maskable, 0.15).tolist() == [0, 1, 1, 2, 15]
    assert token_budget(maskable, torch.tensor([0.5, 0.5, 0.5, 0.5, 1.0], dtype=torch.float64)).tolist() == [0, 1, 2, 5, 100]
