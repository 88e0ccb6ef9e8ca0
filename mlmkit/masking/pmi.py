"""PMI-Masking (Levine et al., ICLR 2021): mask collocations as whole units.

Units: every word n-gram (n = 2..5) of the PMI vocabulary that `mlmkit stats pmi` built is one unit; the
rest of the words are whole-word units (Devlin WWM). Paper rules for matches that clash:
- nested: the longer entry wins ("the united states air force" over "air force");
- overlapping, not nested: one is chosen at random. Vectorised: each remaining match gets a random priority
  and survives if it beats every remaining match it overlaps, so survivors never overlap; a match that lost
  to a match which itself lost stays whole words (the paper: "the rest becomes independent tokens").
Selection: units uniformly at random until the token budget is reached (the unit crossing it is taken
whole); 80/10/10 per unit (paper §3).

Matching is hashing, not scanning: each batch word is hashed from its token ids, each run of n touching
words from its word hashes (`mlmkit.stats.hashing`, the builder's own functions), and every hash is looked
up with one binary search in the vocabulary's sorted hashes for that length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from mlmkit.data.words import number_runs
from mlmkit.stats.artifact import load_stats
from mlmkit.stats.hashing import batch_word_hashes, lookup, ngram_hashes

MAX_N = 5


def _shift(values: torch.Tensor, offset: int, fill: Any) -> torch.Tensor:
    """out[:, k] = values[:, k - offset] along dim 1 (positive offset moves right), `fill` outside."""
    out = torch.full_like(values, fill)
    width = values.shape[1]
    if abs(offset) >= width:
        return out
    if offset >= 0:
        out[:, offset:] = values[:, : width - offset]
    else:
        out[:, : width + offset] = values[:, -offset:]
    return out


@dataclass(frozen=True, eq=False)
class PmiMasker:
    """Whole-word masking whose units are PMI n-grams where the vocabulary has them.

    Args:
        stats: file written by `mlmkit stats pmi`.
        corrupt_per_unit: draw 80/10/10 once per unit (the paper) or per token.
    """

    stats: str | Path | None = None
    corrupt_per_unit: bool = True
    vocabulary: tuple[torch.Tensor, ...] = field(init=False, repr=False, default=())  # sorted hashes per n = 2..5

    needs_words: ClassVar[bool] = True
    truncatable: ClassVar[bool] = False

    @classmethod
    def build(cls, tokenizer: Any, **options: Any) -> "PmiMasker":
        """Load the n-gram vocabulary built for this tokenizer and sort its hashes per length."""
        masker = cls(**options)
        loaded = load_stats(masker.stats, tokenizer, "pmi")
        hashes, lengths = loaded.tensors["hashes"], loaded.tensors["lengths"]
        object.__setattr__(masker, "vocabulary", tuple(hashes[lengths == n].sort().values for n in range(2, MAX_N + 1)))
        return masker

    def matches(self, input_ids: torch.Tensor, word_ids: torch.Tensor) -> list[torch.Tensor]:
        """BoolTensor (B, W) per n = 2..5: a vocabulary n-gram starts at word k (words touching, in one row)."""
        hashes, exists, adjacent = batch_word_hashes(input_ids, word_ids)
        width = hashes.shape[1]
        per_length = ngram_hashes(hashes, MAX_N)
        result = []
        chained = exists.clone()  # chained[:, k]: words k..k+n-1 all exist and touch
        for n in range(2, MAX_N + 1):
            touching = torch.zeros_like(exists)
            touching[:, : max(width - n + 1, 0)] = adjacent[:, n - 2 : n - 2 + max(width - n + 1, 0)]
            chained = chained & touching
            found = torch.zeros_like(exists)
            hit, _ = lookup(self.vocabulary[n - 2], per_length[n - 1])
            found[:, : hit.shape[1]] = hit
            result.append(chained & found)
        return result

    def resolve(self, matches: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
        """Keep non-overlapping matches: longer over nested shorter, random among overlapping ones."""
        lengths = range(2, MAX_N + 1)
        nested = []
        for n, match in zip(lengths, matches):
            contained = torch.zeros_like(match)
            for longer, other in zip(lengths, matches):
                for offset in range(longer - n + 1) if longer > n else ():
                    contained |= _shift(other, offset, False)
            nested.append(match & ~contained)
        priority = [torch.where(m, torch.rand(m.shape, generator=generator), -1.0) for m in nested]
        # A match beats every match it overlaps iff it holds the highest priority on each of its words.
        cover = torch.full_like(priority[0], -1.0)  # (B, W): highest priority of a match covering the word
        for n, own in zip(lengths, priority):
            for offset in range(n):
                cover = torch.maximum(cover, _shift(own, offset, -1.0))
        kept = []
        for n, match, own in zip(lengths, nested, priority):
            wins = match.clone()
            for offset in range(n):
                wins &= _shift(cover, -offset, -1.0) == own
            kept.append(wins)
        return kept

    def units(
        self,
        input_ids: torch.Tensor,
        maskable: torch.Tensor,
        word_ids: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, None]:
        """Units (B, T): kept vocabulary n-grams, else whole words; uniform weights."""
        assert word_ids is not None, "the collator passes word_ids to maskers with needs_words"
        if word_ids.numel() == 0 or int(word_ids.max()) < 1:
            return word_ids, None
        kept = self.resolve(self.matches(input_ids, word_ids), generator)
        inside = torch.zeros_like(kept[0])  # (B, W): word continues a kept n-gram
        for n, keep in zip(range(2, MAX_N + 1), kept):
            for offset in range(1, n):
                inside |= _shift(keep, offset, False)
        first_piece = maskable.clone()
        first_piece[:, 1:] &= word_ids[:, 1:] != word_ids[:, :-1]
        starts_unit = first_piece & ~inside.gather(1, word_ids.clamp(min=0))
        return number_runs(maskable, starts_unit), None
