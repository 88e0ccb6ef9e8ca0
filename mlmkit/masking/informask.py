"""InforMask (Sadeq, Xu, McAuley, EMNLP 2022): mask the informative tokens.

Three modes over the statistics of `mlmkit stats informask`:
- "exact" (default): token-specific masking rates as sampling weights; tokens are drawn without
  replacement in proportion to their rate until round(rate × maskable) is met, so every sequence gets the
  usual budget and informative tokens take more of it.
- "bernoulli": what the InforMask repository does: each token is masked independently with its own rate
  (`rand < prob[id]`), rescaled by (collator rate / the rate the statistics were built for), so the
  corpus-level expectation follows the collator's rate (or schedule) but the count per sequence varies.
- "sample_and_score": the paper's sample-and-score algorithm: draw `candidates` uniform random masks at
  the budget and keep, per sequence, the one with the highest informative relevance, Σ over masked m and
  unmasked u within `window` positions of PMI(m, u) (pairs unseen in the statistics count 0).
Corruption is the collator's 80/10/10 per token (the repository uses 100% [MASK]).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from mlmkit.errors import MlmkitError
from mlmkit.masking.rom import unit_weights_from_tokens
from mlmkit.masking.selection import select_units, token_budget
from mlmkit.masking.units import token_unit_ids
from mlmkit.stats.artifact import load_stats
from mlmkit.stats.hashing import lookup
from mlmkit.vocabulary_table import per_token

MODES = ("exact", "bernoulli", "sample_and_score")


@dataclass(frozen=True, eq=False)
class InformaskMasker:
    """Token masking by informative relevance.

    Args:
        stats: file written by `mlmkit stats informask`.
        mode: "exact", "bernoulli" or "sample_and_score" (see the module docstring).
        candidates: masks drawn per sequence in sample_and_score mode.
    """

    stats: str | Path | None = None
    mode: str = "exact"
    candidates: int = 10
    rates: torch.Tensor = field(init=False, repr=False, default=None)  # (V,)
    pair_keys: torch.Tensor = field(init=False, repr=False, default=None)
    pair_pmi: torch.Tensor = field(init=False, repr=False, default=None)
    built_rate: float = field(init=False, default=0.15)
    window: int = field(init=False, default=10)

    needs_words: ClassVar[bool] = False
    truncatable: ClassVar[bool] = False
    corrupt_per_unit: ClassVar[bool] = False

    @classmethod
    def build(cls, tokenizer: Any, **options: Any) -> "InformaskMasker":
        """Check the options and load the rates and the PMI pair table built for this tokenizer."""
        masker = cls(**options)
        if masker.mode not in MODES:
            raise MlmkitError(f"mode={masker.mode!r} is not known; choose one of {MODES}")
        if masker.candidates < 1:
            raise MlmkitError(f"candidates={masker.candidates} must be >= 1 (the paper samples about 10 masks)")
        loaded = load_stats(masker.stats, tokenizer, "informask")
        for name in ("rates", "pair_keys", "pair_pmi"):
            object.__setattr__(masker, name, loaded.tensors[name])
        object.__setattr__(masker, "built_rate", float(loaded.options["mlm_probability"]))
        object.__setattr__(masker, "window", int(loaded.options["window"]))
        return masker

    def token_rates(self, input_ids: torch.Tensor) -> torch.Tensor:
        """FloatTensor (B, T): each token's masking rate."""
        return per_token(self.rates, input_ids.clamp(0, self.rates.numel() - 1))

    def units(
        self,
        input_ids: torch.Tensor,
        maskable: torch.Tensor,
        word_ids: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token units (B, T) weighted by their token-specific rates (the "exact" mode)."""
        unit_ids = token_unit_ids(maskable)
        return unit_ids, unit_weights_from_tokens(unit_ids, self.token_rates(input_ids) * maskable)

    def choose(
        self,
        input_ids: torch.Tensor,
        maskable: torch.Tensor,
        word_ids: torch.Tensor | None,
        rate: float,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Units and selection (B, T) for every mode (the collator's `choose` hook)."""
        unit_ids = token_unit_ids(maskable)
        if self.mode == "bernoulli":
            probability = (self.token_rates(input_ids) * (rate / self.built_rate)).clamp(max=1.0)
            return unit_ids, maskable & (torch.rand(input_ids.shape, generator=generator) < probability)
        budget = token_budget(maskable, rate)
        if self.mode == "exact":
            _, weights = self.units(input_ids, maskable, word_ids, generator)
            return unit_ids, select_units(unit_ids, budget, generator, weights)
        return unit_ids, self.sample_and_score(input_ids, maskable, unit_ids, budget, generator)

    def neighbour_pmi(self, input_ids: torch.Tensor, maskable: torch.Tensor) -> torch.Tensor:
        """FloatTensor (B, T, window): PMI of each position with the one `d` = 1..window to its right."""
        batch, length = input_ids.shape
        vocab_size = self.rates.numel()
        result = torch.zeros(batch, length, self.window)
        for distance in range(1, min(self.window, length - 1) + 1):
            left, right = input_ids[:, :-distance], input_ids[:, distance:]
            keys = torch.minimum(left, right) * vocab_size + torch.maximum(left, right)
            found, index = lookup(self.pair_keys, keys)
            both = maskable[:, :-distance] & maskable[:, distance:]
            values = self.pair_pmi[index] if self.pair_pmi.numel() else torch.zeros_like(keys, dtype=torch.float32)
            result[:, :-distance, distance - 1] = torch.where(found & both, values, 0.0)
        return result

    def sample_and_score(
        self, input_ids: torch.Tensor, maskable: torch.Tensor, unit_ids: torch.Tensor, budget: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """The best of `candidates` uniform masks per row by informative relevance. BoolTensor (B, T)."""
        pmi = self.neighbour_pmi(input_ids, maskable)  # (B, T, window), computed once for all candidates
        batch, length = input_ids.shape
        count = self.candidates
        masks = select_units(unit_ids.repeat(count, 1), budget.repeat(count), generator).view(count, batch, length)
        score = torch.zeros(count, batch)
        for distance in range(1, min(self.window, length - 1) + 1):
            differs = masks[:, :, :-distance] != masks[:, :, distance:]  # one masked, the other visible
            score += (pmi[:, :-distance, distance - 1] * differs).sum(dim=2)
        best = score.argmax(dim=0)  # (B,)
        return masks[best, torch.arange(batch)]
