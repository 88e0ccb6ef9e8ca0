"""POS-weighted masking (PTW, Yang et al. 2023 "Learning Better Masking").

Words of classes the model currently finds hard are masked more. The training loop reports the
per-token MLM loss (`observe`); each class keeps an exponential moving average
L_c <- d·L_c + (1 - d)·mean loss of class c in the batch (d = 0.999 in the paper), and a word of
class c gets weight w_c = sigmoid(2·(L_c - mean(L)) / std(L)).

Yang et al. accept words one by one with probability w_c until the budget is met; we draw words
without replacement with probability proportional to w_c (the shared budgeted sampler), which
prefers the same classes and meets the budget exactly. Composes with any rate schedule (MRD).

The EMA lives in a shared-memory tensor created in the main process, so DataLoader workers'
copies of the collator read what the training loop writes, with no lag beyond prefetching.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch

from mlmkit.masking.corruption import IGNORE_INDEX
from mlmkit.masking.word_classes import word_class_table
from mlmkit.vocabulary_table import per_token


@dataclass(frozen=True, eq=False)
class PosWeightedMasker:
    """Whole-word masking weighted by each word class's running MLM loss.

    Args:
        ema_decay: d of the per-class loss EMA.
        sharpness: the 2 in sigmoid(2·z).
        tagger: optional `word -> tag` function (picklable, for DataLoader workers), "nltk", or None
            for the lexicon classes of `word_classes`.
        corrupt_per_unit: 80/10/10 drawn per word.
    """

    ema_decay: float = 0.999
    sharpness: float = 2.0
    tagger: Callable[[str], str] | str | None = None
    corrupt_per_unit: bool = True
    # Filled by build(): (V,) class per vocabulary id, class names, (C,) float64 shared-memory EMA (NaN = unseen).
    class_table: torch.Tensor = field(init=False, repr=False)
    class_names: tuple[str, ...] = field(init=False)
    class_loss: torch.Tensor = field(init=False, repr=False)

    needs_words: ClassVar[bool] = True
    truncatable: ClassVar[bool] = False

    @classmethod
    def build(cls, tokenizer: Any, **options: Any) -> "PosWeightedMasker":
        """Tag the vocabulary once and allocate the shared per-class loss EMA."""
        masker = cls(**options)
        table, names = word_class_table(tokenizer, masker.tagger)
        object.__setattr__(masker, "class_table", table)
        object.__setattr__(masker, "class_names", names)
        object.__setattr__(masker, "class_loss", torch.full((len(names),), float("nan"), dtype=torch.float64).share_memory_())
        return masker

    def class_weights(self) -> torch.Tensor:
        """w_c = sigmoid(sharpness · z_c) over classes seen so far; unseen classes (and all before any
        loss was observed) get sigmoid(0) = 0.5. Returns FloatTensor (C,)."""
        losses = self.class_loss.float()
        seen = ~torch.isnan(losses)
        z = torch.zeros_like(losses)
        if seen.sum() >= 2:
            values = losses[seen]
            z[seen] = (values - values.mean()) / values.std().clamp_min(1e-6)
        return torch.sigmoid(self.sharpness * z)

    def units(
        self,
        input_ids: torch.Tensor,
        maskable: torch.Tensor,
        word_ids: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Word units (B, T), each weighted by its first piece's class weight (B, U)."""
        assert word_ids is not None, "the collator passes word_ids to maskers with needs_words"
        token_weight = per_token(self.class_weights(), per_token(self.class_table, input_ids))  # (B, T)
        first_piece = maskable.clone()
        first_piece[:, 1:] &= word_ids[:, 1:] != word_ids[:, :-1]
        unit_weights = torch.zeros(input_ids.shape, dtype=torch.float32)  # U <= T
        rows, positions = first_piece.nonzero(as_tuple=True)
        unit_weights[rows, word_ids[rows, positions]] = token_weight[rows, positions]
        return word_ids, unit_weights

    def observe(self, labels: torch.Tensor, token_losses: torch.Tensor) -> None:
        """Update the per-class loss EMA from one batch.

        Args:
            labels: LongTensor (B, T) or (N,), the original ids where predicted, -100 elsewhere.
            token_losses: FloatTensor of the same shape, the per-token MLM loss (any value off labels).
        """
        predicted = labels != IGNORE_INDEX
        classes = self.class_table[labels[predicted].cpu()]
        losses = token_losses[predicted].detach().double().cpu()
        count = torch.bincount(classes, minlength=len(self.class_names)).double()
        total = torch.bincount(classes, weights=losses, minlength=len(self.class_names))
        present = count > 0
        batch_mean = total[present] / count[present]
        previous = self.class_loss[present]
        updated = torch.where(
            torch.isnan(previous), batch_mean, self.ema_decay * previous + (1 - self.ema_decay) * batch_mean
        )
        self.class_loss[present] = updated  # in place: workers share this memory

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The EMA, for checkpoints (exact resume)."""
        return {"class_loss": self.class_loss.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.class_loss.copy_(state["class_loss"])
