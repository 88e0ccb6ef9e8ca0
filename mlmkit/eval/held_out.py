"""The one held-out masked-LM measure: a fixed [MASK]-only masking of held-out blocks (DESIGN: Evaluation).

The pretraining loop's periodic evaluation (metrics.jsonl, the terminal, `mlmkit plot`), `mlmkit compare`
and the benchmarks all score models this way, so their numbers compare across runs, strategies and
process counts:

- **[MASK] only.** 15% of each block's maskable tokens, every one replaced by the mask token. Not BERT's
  80/10/10: its kept 10% reward copying the input (on a tiny BERT at the unigram plateau, kept tokens
  scored 18.5% against 5.8% for [MASK]s), which a run trained with more kept tokens learns more of.
- **Two selections per block.** Random tokens give token accuracy, loss and accuracy on content vs
  function words; whole words give whole-word accuracy (a word counts only if all its pieces are
  right), where whole-word, span and PMI masking are supposed to differ from random masking.
- **A function of the block alone.** Each block's generator is seeded from its own ids, so the masks
  do not depend on batch size, order or the number of processes; per-block sums are gathered with
  Accelerate's `gather_for_metrics`, which drops the duplicates that pad the last batch.
- **Baselines.** The unigram baseline, always predicting the most frequent masked token, is the bar
  a model must clear to have learnt anything from context; it depends on the blocks and the masking
  only, so it is computed once, without the model.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from typing import Any

import torch

from mlmkit.masking.corruption import IGNORE_INDEX
from mlmkit.masking.late_mask_output import to_late_mask
from mlmkit.masking.selection import select_units, token_budget
from mlmkit.masking.units import token_unit_ids
from mlmkit.masking.word_classes import lexicon_class


@dataclass(frozen=True)
class HeldOutMasking:
    """The held-out masking's settings: `rate` of the maskable tokens per block, and the `seed` mixed
    into every block's own generator."""

    rate: float = 0.15
    seed: int = 12345

    def describe(self) -> str:
        """One line for reports and logs."""
        return f"[MASK]-only {self.rate:.0%} of each block (random tokens; whole words), seed {self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """The settings as stored beside cached scores, so scores made under other settings are recomputed."""
        return {"name": "held_out", **asdict(self)}


# Per-block sums, one column each, in this order (`score_blocks` returns (N_blocks, len(BLOCK_COLUMNS))).
BLOCK_COLUMNS = (
    "loss_sum", "tokens", "correct", "content_tokens", "content_correct", "function_tokens", "function_correct",
    "words", "words_correct",
)


def function_word_table(tokenizer: Any) -> torch.Tensor:
    """(V,) bool, True for ids that are closed-class words or punctuation (`lexicon_class`), the rest content."""
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return torch.tensor([lexicon_class(token or "") in ("function", "punct") for token in tokens], dtype=torch.bool)


def block_seed(input_ids: torch.Tensor, seed: int, salt: int) -> int:
    """A 63-bit seed from one block's real token ids (1-D), the masking seed and a salt per selection."""
    from mlmkit.collators import batch_seed

    return batch_seed(seed, salt, zlib.crc32(input_ids.numpy().astype("int64").tobytes()))


class HeldOutCollator:
    """Collate held-out blocks into the two fixed [MASK]-only views `score_blocks` reads.

    Args:
        tokenizer: the run's tokenizer (mask and pad tokens; its special ids are never selected).
        output: "mlm" (in-place [MASK]s) or "late_mask" (the 3ML layout: the same selection re-laid so the
            [MASK]s join at the model's late layers).
        masking: rate and seed.

    Returns (per call): {"tokens": view, "words": view}, each view {"model": the model's batch,
    "selected": (B, T) bool, "word_ids": (B, T) long, -1 off words, "original_ids": (B, T) uncorrupted}.
    """

    def __init__(self, tokenizer: Any, output: str = "mlm", masking: HeldOutMasking = HeldOutMasking()) -> None:
        from mlmkit.collators import build_collator

        if output not in ("mlm", "late_mask"):
            raise ValueError(f"output={output!r}: the held-out masking scores masked LMs ('mlm' or 'late_mask')")
        # Used for padding, specials and word ids only; its own per-batch selection is not used.
        self.words = build_collator("whole_word", tokenizer, mlm_probability=masking.rate)
        self.output, self.masking = output, masking
        self.mask_token_id, self.pad_token_id = int(tokenizer.mask_token_id), int(tokenizer.pad_token_id)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        base = self.words.select(features)
        budget = token_budget(base.maskable, self.masking.rate)  # (B,)
        tokens = self._select(token_unit_ids(base.maskable), budget, base.input_ids, base.attention_mask, salt=0)
        words = self._select(base.unit_ids, budget, base.input_ids, base.attention_mask, salt=1)
        return {"tokens": self._view(base, tokens), "words": self._view(base, words)}

    def _select(self, unit_ids, budget, input_ids, attention_mask, salt: int) -> torch.Tensor:
        """Select every block's units with the block's own generator: (B, T) bool."""
        rows = []
        for row in range(input_ids.shape[0]):
            generator = torch.Generator().manual_seed(
                block_seed(input_ids[row][attention_mask[row].bool()], self.masking.seed, salt)
            )
            rows.append(select_units(unit_ids[row : row + 1], budget[row : row + 1], generator))
        return torch.cat(rows)

    def _view(self, base: Any, selected: torch.Tensor) -> dict[str, Any]:
        input_ids = base.input_ids.masked_fill(selected, self.mask_token_id)
        labels = base.input_ids.masked_fill(~selected, IGNORE_INDEX)
        if self.output == "late_mask":
            token_type_ids = base.extras.get("token_type_ids")
            model = to_late_mask(input_ids, labels, base.attention_mask, self.mask_token_id, self.pad_token_id, token_type_ids)
        else:
            model = {"input_ids": input_ids, "attention_mask": base.attention_mask, "labels": labels, **base.extras}
        return {"model": model, "selected": selected, "word_ids": base.unit_ids, "original_ids": base.input_ids}


def held_out_baselines(collator: HeldOutCollator, blocks: Any, batch_size: int = 64) -> dict[str, float]:
    """The unigram baselines of the held-out masking on `blocks` (no model involved).

    Returns:
        unigram_accuracy: share of masked tokens equal to the most frequent masked token;
        whole_word_unigram_accuracy: share of masked words that are that one most frequent token (a
        constant one-token guess can only be right on one-piece words).
    """
    token_counts: torch.Tensor | None = None
    single_piece_words: list[torch.Tensor] = []
    words = 0
    for start in range(0, len(blocks), batch_size):
        batch = collator([blocks[i] for i in range(start, min(start + batch_size, len(blocks)))])
        targets = batch["tokens"]["original_ids"][batch["tokens"]["selected"]]
        counts = torch.bincount(targets, minlength=len(collator.words.tokenizer)).double()
        token_counts = counts if token_counts is None else token_counts + counts
        view = batch["words"]
        keys, inverse, _ = _masked_words(view)
        sizes = torch.bincount(inverse, minlength=keys.numel())
        ids = torch.zeros_like(keys).scatter_(0, inverse, view["original_ids"][view["selected"]])  # exact for 1-piece words
        words += keys.numel()
        single_piece_words.append(ids[sizes == 1])
    if token_counts is None or token_counts.sum() == 0:
        return {"unigram_accuracy": 0.0, "whole_word_unigram_accuracy": 0.0}
    top = int(token_counts.argmax())
    one_piece = torch.cat(single_piece_words)
    return {
        "unigram_accuracy": float(token_counts[top] / token_counts.sum()),
        "whole_word_unigram_accuracy": float((one_piece == top).sum()) / max(words, 1),
    }


def _masked_words(view: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Group a view's masked positions (N, in row order) by word.

    Returns:
        keys (K,), one per masked (block, word), sorted; `inverse` (N,), the word of each position;
        `block` (K,), the block of each word.
    """
    selected, word_ids = view["selected"], view["word_ids"]
    rows, columns = selected.nonzero(as_tuple=True)
    width = word_ids.shape[1] + 1
    keys, inverse = torch.unique(rows * width + word_ids[rows, columns], return_inverse=True)
    return keys, inverse, keys // width


@torch.no_grad()
def score_blocks(accelerator: Any, module: torch.nn.Module, loader: Any, function_table: torch.Tensor) -> torch.Tensor:
    """Run `module` (an objective's training module) over held-out batches; per-block sums.

    Args:
        accelerator: the run's Accelerator (one process or many).
        module: `MaskedLMModule` or `LateMaskLMModule` (prepared); its forward returns `token_loss`,
            `target_correct` and `target_ids` at the labelled positions, in row order.
        loader: a (prepared) DataLoader whose collate_fn is a `HeldOutCollator`.
        function_table: (V,) bool from `function_word_table`.

    Returns:
        DoubleTensor (N_blocks, len(BLOCK_COLUMNS)) on the CPU, every held-out block once.
    """
    module.eval()
    table = function_table.to(accelerator.device)
    parts = []
    for batch in loader:
        sums = torch.cat([_token_sums(module, batch["tokens"], table), _word_sums(module, batch["words"])], dim=1)
        parts.append(accelerator.gather_for_metrics(sums).double().cpu())
    module.train()
    return torch.cat(parts) if parts else torch.zeros(0, len(BLOCK_COLUMNS), dtype=torch.float64)


def _token_sums(module: torch.nn.Module, view: dict[str, Any], function_table: torch.Tensor) -> torch.Tensor:
    """Columns loss_sum .. function_correct of every block in the view (B, 7)."""
    outputs = module(**view["model"])
    rows = view["selected"].nonzero()[:, 0]  # (N,) the targets' blocks, in the module's target order
    correct = outputs["target_correct"].double()
    function = function_table[outputs["target_ids"]].double()
    values = torch.stack(
        [outputs["token_loss"].double(), torch.ones_like(correct), correct, 1 - function, (1 - function) * correct,
         function, function * correct],
        dim=1,
    )  # (N, 7)
    return torch.zeros(view["selected"].shape[0], values.shape[1], dtype=torch.float64, device=values.device).index_add_(
        0, rows, values
    )


def _word_sums(module: torch.nn.Module, view: dict[str, Any]) -> torch.Tensor:
    """Columns words, words_correct of every block in the view (B, 2): a word is right if all its pieces are."""
    outputs = module(**view["model"])
    keys, inverse, block = _masked_words(view)
    all_right = torch.ones(keys.numel(), device=keys.device).scatter_reduce(
        0, inverse, outputs["target_correct"].float(), reduce="amin"
    )  # (K,)
    sums = torch.zeros(view["selected"].shape[0], 2, dtype=torch.float64, device=keys.device)
    sums[:, 0].index_add_(0, block, torch.ones_like(all_right, dtype=torch.float64))
    sums[:, 1].index_add_(0, block, all_right.double())
    return sums


def summarize(block_sums: torch.Tensor, baselines: dict[str, float]) -> dict[str, float]:
    """The held-out numbers of a run from per-block sums (counts summed, then divided: STYLE §3.4).

    Returns:
        eval_loss (nats per masked token), eval_accuracy, eval_unigram_accuracy, eval_whole_word_accuracy,
        eval_whole_word_unigram_accuracy, eval_content_accuracy, eval_function_accuracy, eval_tokens, eval_words.
    """
    total = dict(zip(BLOCK_COLUMNS, block_sums.sum(dim=0).tolist()))

    def ratio(numerator: str, denominator: str) -> float:
        return total[numerator] / total[denominator] if total[denominator] else 0.0

    return {
        "eval_loss": ratio("loss_sum", "tokens"),
        "eval_accuracy": ratio("correct", "tokens"),
        "eval_unigram_accuracy": baselines["unigram_accuracy"],
        "eval_whole_word_accuracy": ratio("words_correct", "words"),
        "eval_whole_word_unigram_accuracy": baselines["whole_word_unigram_accuracy"],
        "eval_content_accuracy": ratio("content_correct", "content_tokens"),
        "eval_function_accuracy": ratio("function_correct", "function_tokens"),
        "eval_tokens": int(total["tokens"]),
        "eval_words": int(total["words"]),
    }


def score_model(
    model: torch.nn.Module, tokenizer: Any, blocks: Any, masking: HeldOutMasking = HeldOutMasking(), batch_size: int = 64
) -> tuple[dict[str, float], torch.Tensor]:
    """Held-out scores of a loaded masked LM (standard or 3ML late-mask) on `blocks`, in this process.

    Returns:
        (the `summarize` numbers, per-block sums (N_blocks, len(BLOCK_COLUMNS)) for intervals).
    """
    from accelerate import Accelerator

    from mlmkit.models.late_mask import LateMaskForMaskedLM
    from mlmkit.train.objectives import build_objective

    output = "late_mask" if isinstance(model, LateMaskForMaskedLM) else "mlm"
    collator = HeldOutCollator(tokenizer, output=output, masking=masking)
    loader = torch.utils.data.DataLoader(blocks, batch_size=batch_size, collate_fn=collator)
    accelerator = Accelerator()
    module, loader = accelerator.prepare(build_objective(model).wrap(model), loader)
    block_sums = score_blocks(accelerator, module, loader, function_word_table(tokenizer))
    return summarize(block_sums, held_out_baselines(collator, blocks, batch_size)), block_sums
