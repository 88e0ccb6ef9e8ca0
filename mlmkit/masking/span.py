"""SpanBERT span masking: spans of whole words with geometric lengths (Joshi et al. 2020 §3.1).

SpanBERT draws a span length ℓ (in words) from Geometric(p=0.2) clipped to [1, 10] (mean ≈ 3.8 words),
anchors it at a random word start and repeats until 15% of the tokens are masked; 80/10/10 is decided per
span. SpanBERT always masks complete words; its last span is cut at the budget, which can split a word, so
we cut it after the word that reaches the budget instead (overshoot < one word, as whole-word masking). (Its code defaults, `geometric_p=0.3` and per-piece
replacement, differ from the paper; we follow the paper's README command.)

Vectorised equivalent: each row's words are cut into consecutive segments whose lengths are drawn from
that truncated geometric (a renewal process started at a random point, so span starts are not tied to
the row start), and the collator samples segments uniformly without replacement until the budget is met.
Uniform sampling of segments gives chosen spans the segment-length distribution, i.e. the paper's.
Spans never cross a special token or document separator: a segment that would is split there. Chosen
neighbouring spans form one longer masked run, as SpanBERT's merged intervals do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from mlmkit.data.words import number_runs
from mlmkit.masking.units import count_units


@dataclass(frozen=True)
class SpanMasker:
    """Mask spans of whole words.

    Args:
        geometric_p: success probability of the geometric span length (SpanBERT: 0.2).
        min_span_length: shortest span, in words (SpanBERT: 1).
        max_span_length: longest span, in words (SpanBERT: 10).
        corrupt_per_unit: draw mask/random/keep once per span (SpanBERT's `replacement='span'`, default)
            or per token.
    """

    geometric_p: float = 0.2
    min_span_length: int = 1
    max_span_length: int = 10
    corrupt_per_unit: bool = True

    needs_words: ClassVar[bool] = True
    truncatable: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not 0.0 < self.geometric_p <= 1.0:
            raise ValueError(f"geometric_p={self.geometric_p} must be in (0, 1] (SpanBERT uses 0.2)")
        if not 1 <= self.min_span_length <= self.max_span_length:
            raise ValueError(
                f"span lengths must satisfy 1 <= min_span_length <= max_span_length, got "
                f"min_span_length={self.min_span_length}, max_span_length={self.max_span_length} (SpanBERT: 1 and 10)"
            )

    def length_probabilities(self) -> torch.Tensor:
        """P(ℓ) ∝ p(1-p)^(ℓ-min) for ℓ = min..max, renormalised (SpanBERT's truncated geometric). (N,) float64."""
        exponents = torch.arange(self.max_span_length - self.min_span_length + 1, dtype=torch.float64)
        weights = self.geometric_p * (1.0 - self.geometric_p) ** exponents
        return weights / weights.sum()

    def _draw_lengths(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """Span lengths (LongTensor `shape`) from the truncated geometric, by its closed-form inverse CDF:
        ℓ = min + floor(log(1 - u(1 - q^n)) / log q), q = 1 - p, n = number of lengths. In float32: its
        rounding moves each length's probability by about 1e-7, and halves the cost of the float64 draw."""
        uniform = torch.rand(shape, generator=generator)
        if self.geometric_p >= 1.0:
            return torch.full(shape, self.min_span_length, dtype=torch.long)
        q = 1.0 - self.geometric_p
        count = self.max_span_length - self.min_span_length + 1
        steps = torch.floor(torch.log1p(-uniform * (1.0 - q**count)) / math.log(q)).long()
        return steps.clamp_(0, count - 1) + self.min_span_length  # clamp: float rounding at u -> 1

    def _draw_first_lengths(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """Length of the span covering each row's first word: length-biased, ∝ ℓ·P(ℓ) (renewal theory)."""
        sizes = torch.arange(self.min_span_length, self.max_span_length + 1, dtype=torch.float64)
        biased = self.length_probabilities() * sizes
        return torch.multinomial(biased, batch_size, replacement=True, generator=generator) + self.min_span_length

    def units(
        self,
        input_ids: torch.Tensor,
        maskable: torch.Tensor,
        word_ids: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, None]:
        """Cut every row's words into geometric-length spans; unit = span (B, T); uniform weights."""
        assert word_ids is not None, "the collator passes word_ids to maskers with needs_words"
        batch_size = word_ids.shape[0]
        num_words = max(count_units(word_ids), 1)
        lengths = self._draw_lengths((batch_size, num_words), generator)  # (B, K): K = W spans always suffice
        # Start the renewal process in equilibrium: the span covering word 0 is length-biased and word 0
        # falls uniformly inside it, so the row start is not a preferred span start.
        first = self._draw_first_lengths(batch_size, generator)  # (B,)
        offset = (torch.rand(batch_size, generator=generator) * first).long().clamp(max=first - 1)  # (B,)
        lengths[:, 0] = first
        ends = (lengths.cumsum(dim=1) - offset.unsqueeze(1)).clamp_(max=num_words)  # (B, K) exclusive end word
        starts = torch.zeros(batch_size, num_words + 1, dtype=torch.long).scatter_(1, ends, 1)  # word starts a span
        span_of_word = starts[:, :num_words].cumsum(dim=1)  # (B, W)
        segment = span_of_word.gather(1, word_ids.clamp(min=0))  # (B, T)
        changed = torch.ones_like(maskable)
        changed[:, 1:] = segment[:, 1:] != segment[:, :-1]
        return number_runs(maskable, changed), None
