"""Corruption: what the model sees at the selected positions (BERT's 80/10/10).

One shared implementation for every strategy (STYLE §3.3). Random replacements come from the
tokenizer's vocabulary without special and unused ids: HF's collator draws from `len(tokenizer)`, specials
included, and ModernBERT from the batch's largest id; fairseq gives specials weight 0.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch

from mlmkit.data.words import special_token_ids
from mlmkit.masking.units import count_units

IGNORE_INDEX = -100  # labels value that PyTorch's cross-entropy and HF models skip
_UNUSED_TOKEN = re.compile(r"^\[unused\d+\]$|^<unused\d+>$")


def replacement_vocabulary(tokenizer: Any) -> torch.Tensor:
    """Ids that random replacement may draw: the vocabulary without special (`special_token_ids`) and unused ids.

    Returns:
        LongTensor (N,), sorted.
    """
    size = len(tokenizer)
    excluded = set(special_token_ids(tokenizer))
    tokens = tokenizer.convert_ids_to_tokens(list(range(size)))
    ids = [i for i, token in enumerate(tokens) if i not in excluded and token and not _UNUSED_TOKEN.match(token)]
    return torch.tensor(ids, dtype=torch.long)


def check_replacement_probs(mask_replace_prob: float, random_replace_prob: float) -> None:
    """Raise ValueError unless both probabilities are in [0, 1] and sum to at most 1 (HF's rule)."""
    for name, value in (("mask_replace_prob", mask_replace_prob), ("random_replace_prob", random_replace_prob)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}={value} must be a probability in [0, 1]")
    if mask_replace_prob + random_replace_prob > 1.0 + 1e-9:
        raise ValueError(
            f"mask_replace_prob + random_replace_prob = {mask_replace_prob} + {random_replace_prob} > 1; "
            "their sum is the share of selected tokens that get changed (the rest stay as they are), "
            "so lower one of them (BERT: 0.8 and 0.1)"
        )


def apply_replacement(
    input_ids: torch.Tensor,
    selected: torch.Tensor,
    generator: torch.Generator,
    mask_token_id: int,
    replacement_ids: torch.Tensor,
    mask_replace_prob: float = 0.8,
    random_replace_prob: float = 0.1,
    unit_ids: torch.Tensor | None = None,
    exact: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt the selected positions and build MLM labels.

    Of the selected positions, `mask_replace_prob` become the mask token, `random_replace_prob` a random
    id from `replacement_ids`, and the rest keep their token (BERT §3.1 / appendix C.2: 80/10/10).

    Args:
        input_ids: LongTensor (B, T); not modified.
        selected: BoolTensor (B, T), the positions to predict.
        generator: the only source of randomness.
        mask_token_id: id of the mask token.
        replacement_ids: LongTensor (N,) ids random replacements are drawn from (`replacement_vocabulary`).
        mask_replace_prob: share of selected positions (or units) replaced by the mask token.
        random_replace_prob: share replaced by a random id.
        unit_ids: LongTensor (B, T) or None. When given, the choice mask/random/keep is drawn once per
            unit, so all pieces of a word or span get the same treatment (SpanBERT's span-level 80/10/10);
            each random piece still gets its own random id.
        exact: split each row's selection into exactly round(k × mask_replace_prob) [MASK]s and
            round(k × (mask_replace_prob + random_replace_prob)) − that many random ids (k selected
            positions or units), in random places, instead of drawing per position. Rows with the
            same k then hold the same number of [MASK]s, which keeps late-mask (3ML) batches unpadded.

    Returns:
        (corrupted input_ids (B, T), labels (B, T)): labels are the original ids where selected, -100 elsewhere.
    """
    check_replacement_probs(mask_replace_prob, random_replace_prob)
    labels = torch.where(selected, input_ids, IGNORE_INDEX)
    if unit_ids is None:
        draw = torch.rand(input_ids.shape, generator=generator)  # (B, T)
        if exact:
            draw = _evenly_spread(draw, selected)
    else:
        per_unit = torch.rand((input_ids.shape[0], max(count_units(unit_ids), 1)), generator=generator)  # (B, U)
        if exact:
            unit_selected = torch.zeros(per_unit.shape, dtype=torch.long).scatter_reduce(
                1, unit_ids.clamp(min=0), (selected & (unit_ids >= 0)).long(), reduce="amax"
            )
            per_unit = _evenly_spread(per_unit, unit_selected.bool())
        draw = per_unit.gather(1, unit_ids.clamp(min=0))
    to_mask = selected & (draw < mask_replace_prob)
    to_random = selected & ~to_mask & (draw < mask_replace_prob + random_replace_prob)
    corrupted = torch.where(to_mask, mask_token_id, input_ids)
    positions = torch.from_numpy(np.flatnonzero(to_random.numpy()))  # numpy's is ~3x faster than torch's nonzero on CPU
    if positions.numel():
        # Draw only the ids needed (about 10% of the selection), not a full (B, T) tensor.
        corrupted.view(-1)[positions] = replacement_ids[torch.randint(replacement_ids.numel(), (positions.numel(),), generator=generator)]
    return corrupted, labels


def _evenly_spread(draw: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """Replace each row's k chosen draws (B, N) by (rank + 0.5) / k, their rank in random order.

    The row's draws below a threshold p are then exactly round(k × p) of the chosen ones (halves
    round down), where independent draws would give a binomial count.
    """
    rank = draw.masked_fill(~chosen, 2.0).argsort(dim=1).argsort(dim=1)  # (B, N) rank among the chosen first
    count = chosen.sum(dim=1, keepdim=True).clamp(min=1)  # (B, 1)
    return torch.where(chosen, (rank + 0.5) / count, draw)
