"""Selection: which units to mask, under a token budget, for every strategy.

One routine serves all strategies: sample units without replacement, each with probability
proportional to its weight (uniform by default), and take them in sampled order until the row's token
budget is reached. Sampling proportional to weight without replacement is a sort of Gumbel-perturbed
log-weights (the Gumbel top-k trick), so the whole batch is one `topk` over (B, U): no Python loop
over rows, units or tokens, and O(B·T) memory.

Budget semantics (BERT `create_pretraining_data.py` and SpanBERT count tokens exactly, unlike HF's
per-token Bernoulli): the unit that crosses the budget is taken whole, so a row overshoots by less than
one unit (whole-word masking: less than one word), or, with `truncate_at_words`, it is cut after the word
that reaches the budget, so a row overshoots by less than one word (SpanBERT cuts its last span at the
budget; we cut it at a word boundary, since SpanBERT masks complete words).
"""

from __future__ import annotations

import torch

from mlmkit.masking.units import count_units, unit_lengths


def token_budget(maskable: torch.Tensor, rate: float | torch.Tensor) -> torch.Tensor:
    """Number of tokens to mask per row: round(rate × maskable tokens), at least 1 where any is maskable.

    Rounding is half-to-even (`torch.round`, like Python's `round`), computed in float64.

    Args:
        maskable: BoolTensor (B, T).
        rate: a float or a (B,) tensor of rates in [0, 1].

    Returns:
        LongTensor (B,), between min(1, n_maskable) and n_maskable.
    """
    count = maskable.sum(dim=1)  # (B,)
    rate = torch.as_tensor(rate, dtype=torch.float64)
    budget = torch.round(count.to(torch.float64) * rate).long()
    return torch.minimum(torch.maximum(budget, (count > 0).long()), count)


def _sort_keys(lengths: torch.Tensor, generator: torch.Generator, unit_weights: torch.Tensor | None) -> torch.Tensor:
    """Random keys (B, U) whose descending order is a weighted sample without replacement.

    Units that do not exist (length 0) get -inf; units of weight 0 come after every unit of positive
    weight, in random order among themselves, so they are taken only when nothing else is left.
    """
    noise = torch.rand(lengths.shape, generator=generator)  # (B, U), in [0, 1)
    if unit_weights is None:
        keys = noise
    else:
        weights = unit_weights[:, : lengths.shape[1]].to(torch.float32)
        gumbel = -torch.log(-torch.log(noise.clamp(min=torch.finfo(torch.float32).tiny)))
        positive = weights > 0
        keys = torch.where(positive, torch.log(weights.clamp(min=torch.finfo(torch.float32).tiny)) + gumbel, 0.0)
        lowest = torch.where(positive, keys, torch.inf).amin(dim=1, keepdim=True)
        lowest = torch.where(torch.isfinite(lowest), lowest, 0.0)
        keys = torch.where(positive, keys, lowest - 1.0 - noise)
    return keys.masked_fill_(lengths == 0, -torch.inf)


def _rank_of_word_start(unit_ids: torch.Tensor, lengths: torch.Tensor, word_ids: torch.Tensor) -> torch.Tensor:
    """Position, inside its unit, of the first token of every token's word (0 at the unit's first token). (B, T).

    Units are contiguous and numbered in order, so among the valid tokens unit u starts after the
    tokens of units 0..u-1: cumulative sums and gathers, no sort.
    """
    valid = unit_ids >= 0
    valid_index = valid.cumsum(dim=1) - 1  # (B, T) index among the row's valid tokens
    unit_start = lengths.cumsum(dim=1) - lengths  # (B, U)
    words = word_ids.clamp(min=0)
    first = torch.full((word_ids.shape[0], word_ids.shape[1] + 1), word_ids.shape[1], dtype=torch.long)
    first = first.scatter_reduce(1, words, valid_index.masked_fill(~valid, word_ids.shape[1]), "amin")  # (B, W)
    return first.gather(1, words) - unit_start.gather(1, unit_ids.clamp(min=0))


def select_units(
    unit_ids: torch.Tensor,
    budget: torch.Tensor,
    generator: torch.Generator,
    unit_weights: torch.Tensor | None = None,
    truncate_at_words: torch.Tensor | None = None,
) -> torch.Tensor:
    """Choose whole units, weighted and without replacement, until each row's token budget is met.

    Args:
        unit_ids: LongTensor (B, T), per row 0..U_b-1, contiguous runs, -1 = never selected.
        budget: LongTensor (B,) tokens to select per row (see `token_budget`).
        generator: the only source of randomness.
        unit_weights: FloatTensor (B, U') with U' >= number of units, or None for uniform. Weight 0 =
            chosen only once every positive-weight unit is taken.
        truncate_at_words: word ids (B, T) (0..W_b-1 per row, -1 off words), each unit made of whole words:
            the unit that crosses the budget keeps its words up to the one that reaches the budget
            (overshoot < one word). None: that unit is taken whole (overshoot < its length).

    Returns:
        BoolTensor (B, T): selected positions; never a -1 position.
    """
    num_units = count_units(unit_ids)
    if num_units <= 0:
        return torch.zeros_like(unit_ids, dtype=torch.bool)
    lengths = unit_lengths(unit_ids, num_units)  # (B, U)
    # Every unit holds >= 1 token, so no row needs more than max(budget) units: a partial top-k is
    # enough, and much cheaper than sorting all units at low masking rates.
    needed = max(1, min(num_units, int(budget.max()) if budget.numel() else 0))
    order = _sort_keys(lengths, generator, unit_weights).topk(needed, dim=1).indices  # (B, k), sampled order
    sorted_lengths = lengths.gather(1, order)
    before = sorted_lengths.cumsum(dim=1) - sorted_lengths  # tokens taken before each unit
    remaining = (budget.unsqueeze(1) - before).clamp(min=0)
    if truncate_at_words is not None:
        allowed_sorted = torch.minimum(remaining, sorted_lengths)
    else:
        allowed_sorted = torch.where(remaining > 0, sorted_lengths, 0)
    allowed = torch.zeros_like(lengths).scatter_(1, order, allowed_sorted)  # (B, U) tokens to take per unit
    valid = unit_ids >= 0
    taken = allowed.gather(1, unit_ids.clamp(min=0))  # (B, T)
    if truncate_at_words is not None:
        return valid & (_rank_of_word_start(unit_ids, lengths, truncate_at_words) < taken)
    return valid & (taken > 0)
