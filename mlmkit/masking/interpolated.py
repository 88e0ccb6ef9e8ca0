"""Interpolate between two strategies over training (a content schedule).

Each row of a batch is masked by the `start` strategy with probability λ(t) and by the `end`
strategy otherwise, λ moving linearly from `mix_start` to `mix_end` over training progress t. With
the defaults a run begins fully informed (e.g. PMI units) and ends fully uniform, the "easy to
hard"/"informed to random" curricula the schedule papers discuss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from mlmkit.errors import MlmkitError


@dataclass(frozen=True, eq=False)
class InterpolatedMasker:
    """Per-row mixture of two strategies whose share changes over training.

    Args:
        start: strategy name used at the start of training (a key of MASKERS).
        end: strategy name used at the end.
        start_options / end_options: options of each strategy (e.g. `{"stats": "pmi.safetensors"}`).
        mix_start / mix_end: probability that a row uses `start`, at progress 0 and 1.
    """

    start: str = "whole_word"
    end: str = "random"
    start_options: dict = field(default_factory=dict)
    end_options: dict = field(default_factory=dict)
    mix_start: float = 1.0
    mix_end: float = 0.0
    maskers: tuple = field(init=False, repr=False)  # (start masker, end masker), filled by build()

    needs_words: ClassVar[bool] = True
    uses_progress: ClassVar[bool] = True
    corrupt_per_unit: ClassVar[bool] = True
    truncatable: ClassVar[bool] = False

    @classmethod
    def build(cls, tokenizer: Any, **options: Any) -> "InterpolatedMasker":
        """Build both strategies with their own options."""
        from mlmkit.masking import MASKERS

        masker = cls(**options)
        for name in (masker.start, masker.end):
            if name not in MASKERS or name == "interpolated":
                raise MlmkitError(f"interpolated: strategy {name!r} must be one of {sorted(set(MASKERS) - {'interpolated'})}")
        for probability in (masker.mix_start, masker.mix_end):
            if not 0.0 <= probability <= 1.0:
                raise MlmkitError(f"interpolated: mix_start/mix_end={probability} must be within [0, 1]")
        built = []
        for name, own in ((masker.start, masker.start_options), (masker.end, masker.end_options)):
            strategy = MASKERS[name]
            built.append(strategy.build(tokenizer, **own) if hasattr(strategy, "build") else strategy(**own))
        object.__setattr__(masker, "maskers", tuple(built))
        return masker

    def units(
        self,
        input_ids: torch.Tensor,
        maskable: torch.Tensor,
        word_ids: torch.Tensor | None,
        generator: torch.Generator,
        progress: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Units and weights (B, T) of `start` for the rows drawn for it, of `end` for the others."""
        share = self.mix_start + (self.mix_end - self.mix_start) * min(max(progress, 0.0), 1.0)
        use_start = torch.rand(input_ids.shape[0], generator=generator) < share  # (B,)
        chosen_ids, chosen_weights = [], []
        for masker in self.maskers:
            unit_ids, weights = masker.units(input_ids, maskable, word_ids, generator)
            if weights is None:
                weights = torch.ones(input_ids.shape, dtype=torch.float32)
            padded = torch.zeros(input_ids.shape, dtype=torch.float32)  # U <= T
            padded[:, : weights.shape[1]] = weights
            chosen_ids.append(unit_ids)
            chosen_weights.append(padded)
        rows = use_start[:, None]
        return torch.where(rows, *chosen_ids), torch.where(rows, *chosen_weights)
