"""Masking collators with the Hugging Face collator contract, and `build_collator`, their one entry point.

A collator pads a list of features, numbers words when its strategy needs them, asks the strategy for
units, selects units under the token budget, and corrupts them. It works as
`transformers.Trainer(data_collator=...)` (also with the default `remove_unused_columns=True`, which drops
`word_ids` and `special_tokens_mask`: specials then come from the tokenizer's special ids and words are
derived from the ids by the tokenizer's own rules, `mlmkit.data.word_boundaries`) and in a `DataLoader` with any `num_workers`.

Reproducibility: every batch gets its own generator seeded from (seed, epoch, the batch's content), in the
spirit of fairseq's (seed, epoch, index): masks do not depend on `num_workers`, differ
between epochs (dynamic masking, RoBERTa §4.1), and replay on resume wherever the same batches come back,
with no callback: under `transformers.Trainer` each epoch's shuffle is new and a resumed run gets the same
batches. The epoch is the one `set_epoch` gave (our loop, `MaskingScheduleCallback`); without it, the
collator counts passes itself: a batch equal to the first one this worker slot (or the main process)
collated starts a new pass, which is how an unshuffled DataLoader starts every epoch, in worker processes
too (the count lives in shared memory, since workers are new processes every epoch). Two batches with the
same ids in one epoch get the same masks.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import fields
from typing import Any

import numpy as np
import torch

from mlmkit.data.word_boundaries import WordBoundaries, batch_word_ids
from mlmkit.data.words import special_token_ids
from mlmkit.errors import MlmkitError, did_you_mean
from mlmkit.masking import MASKERS
from mlmkit.masking.corruption import check_replacement_probs, replacement_vocabulary
from mlmkit.masking.outputs import OUTPUTS, SelectedBatch
from mlmkit.masking.padding import holds_only_ones, pad_feature
from mlmkit.masking.selection import select_units, token_budget
from mlmkit.schedules import ScheduleSpec, build_schedule
from mlmkit.value_types import describe_type, matches_type
from mlmkit.vocabulary_table import per_token


_UINT64 = (1 << 64) - 1


def _splitmix64(value: int) -> int:
    """SplitMix64's finaliser (Steele et al. 2014): a cheap bijective 64-bit mixer."""
    value = (value + 0x9E3779B97F4A7C15) & _UINT64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _UINT64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _UINT64
    return value ^ (value >> 31)


def batch_seed(seed: int, epoch: int, batch_key: int) -> int:
    """Mix (seed, epoch, batch key) into one 63-bit seed; neighbouring triples give unrelated seeds."""
    return _splitmix64(_splitmix64(_splitmix64(seed) ^ epoch) ^ (batch_key & _UINT64)) >> 1


_HASH_WEIGHTS = np.zeros(0, dtype=np.uint64)


def content_hash(input_ids: torch.Tensor) -> int:
    """A 64-bit hash of a padded batch (B, T): a weighted sum of its ids with fixed odd random weights
    (wrapping uint64 arithmetic, one pass over the tokens), mixed with its shape."""
    global _HASH_WEIGHTS
    size = input_ids.numel()
    with np.errstate(over="ignore"):
        if _HASH_WEIGHTS.size < size:  # SplitMix64 of 0, 1, 2, ..., made odd
            value = np.arange(max(size, 2 * _HASH_WEIGHTS.size), dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
            value = (value ^ (value >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            value = (value ^ (value >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            _HASH_WEIGHTS = (value ^ (value >> np.uint64(31))) | np.uint64(1)
        ids = np.ascontiguousarray(input_ids.numpy(), dtype=np.int64).reshape(-1).view(np.uint64)
        total = int(np.dot(ids, _HASH_WEIGHTS[:size]))  # wraps modulo 2**64
    return _splitmix64(total ^ (input_ids.shape[0] << 32) ^ input_ids.shape[1])


MAX_WORKER_SLOTS = 256  # DataLoader workers whose passes are counted apart (worker id modulo this)


class MaskingCollator:
    """Pad, select units with a strategy, and apply BERT's 80/10/10 (HF collator contract).

    Args:
        tokenizer: a Hugging Face tokenizer with a mask token.
        masker: a strategy from `mlmkit.masking.MASKERS` (an instance).
        mlm_probability: share of maskable tokens to predict per sequence (budget round(rate × n), ≥ 1).
        mask_replace_prob: share of selected tokens (or units) replaced by the mask token.
        random_replace_prob: share replaced by a random vocabulary token (never a special one).
        exact_replacement: split each row's selection into exact [MASK]/random/kept counts
            (round(k × share)) instead of drawing per token; with output="late_mask" and equal rows,
            every row then has the same encoder length (no padding) under 80/10/10 too.
        pad_to_multiple_of: pad the length up to a multiple of this (e.g. 8 for tensor cores).
        seed: seed of the per-batch generators.
        output: output stage, a key of `mlmkit.masking.outputs.OUTPUTS` ("mlm": BERT's in-place MLM).
        schedule: masking rate over training (`mlmkit.schedules.build_schedule` spec, e.g.
            `{"name": "linear", "start": 0.30, "end": 0.15}`); replaces `mlm_probability`. Training
            progress is the global batch index over `set_total_batches(n)`, so every worker, resumed
            run and `num_workers` setting sees the same rate for the same batch (no prefetch lag).
    """

    def __init__(
        self,
        tokenizer: Any,
        masker: Any,
        mlm_probability: float = 0.15,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        exact_replacement: bool = False,
        pad_to_multiple_of: int | None = None,
        seed: int = 0,
        output: str = "mlm",
        schedule: ScheduleSpec | None = None,
    ) -> None:
        _check_options(tokenizer, mlm_probability, mask_replace_prob, random_replace_prob, pad_to_multiple_of, seed)
        if output not in OUTPUTS:
            raise MlmkitError(f"unknown output stage {output!r}; choose one of {sorted(OUTPUTS)}{did_you_mean(output, OUTPUTS, cutoff=0.0)}")
        self.tokenizer = tokenizer
        self.masker = masker
        self.mlm_probability = float(mlm_probability)
        self.mask_replace_prob = float(mask_replace_prob)
        self.random_replace_prob = float(random_replace_prob)
        self.exact_replacement = bool(exact_replacement)
        self.pad_to_multiple_of = pad_to_multiple_of
        self.seed = int(seed)
        self.output = output
        self.schedule = build_schedule(schedule) if schedule is not None else None
        self.total_batches: int | None = None
        self.pad_token_id = int(tokenizer.pad_token_id)
        self.mask_token_id = int(tokenizer.mask_token_id)
        self.special_ids = torch.tensor(special_token_ids(tokenizer), dtype=torch.long)
        self.special_table = torch.zeros(max(len(tokenizer), int(self.special_ids.max()) + 1), dtype=torch.bool)  # (V,)
        self.special_table[self.special_ids] = True
        self.replacement_ids = replacement_vocabulary(tokenizer)
        self.word_boundaries = WordBoundaries.from_tokenizer(tokenizer) if masker.needs_words else None
        self.epoch: int | None = None  # None: count passes automatically (see the module docstring)
        self.start_batch = 0
        self._calls = 0
        self._batch_index = 0
        self.process_index, self.num_processes = 0, 1
        # Per slot (main process, then worker ids): [first batch seen, its content hash, passes]; shared so
        # that the workers of later epochs (new processes) see what earlier ones recorded.
        self._passes = torch.zeros(1 + MAX_WORKER_SLOTS, 3, dtype=torch.int64).share_memory_()

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Set the epoch (masks are a function of seed, epoch and batch) and the global index of the next batch.

        `start_batch` counts batches from the start of training (not of the epoch): a schedule reads
        training progress from it. Call before the DataLoader's iterator is created: worker processes
        copy the collator then. Without any call the collator counts epochs itself (module docstring).
        """
        self.epoch = int(epoch)
        self.start_batch = int(start_batch)
        self._calls = 0

    def set_process(self, process_index: int, num_processes: int) -> None:
        """Count batches over all processes: this one's k-th batch is global batch k × num_processes + process_index,
        the order Accelerate shards batches in, so masks and schedule position do not depend on the process count."""
        self.process_index, self.num_processes = int(process_index), int(num_processes)

    def set_total_batches(self, total_batches: int) -> None:
        """Tell a scheduled collator how many batches training takes (steps × gradient accumulation)."""
        if total_batches < 1:
            raise MlmkitError(f"total_batches={total_batches} must be at least 1")
        self.total_batches = int(total_batches)

    def progress(self, batch_index: int | None = None) -> float:
        """Training progress in [0, 1] of global batch `batch_index` (default: the batch being collated).

        The first batch of training is at 0 and the last at 1, so a schedule's start and end rates are
        both used.
        """
        if self.total_batches is None:
            raise MlmkitError(
                "this collator has a schedule but does not know the training length: call "
                "collator.set_total_batches(max_steps * gradient_accumulation_steps) or, with transformers.Trainer, "
                "add callbacks=[mlmkit.MaskingScheduleCallback(collator)]"
            )
        index = self._batch_index if batch_index is None else batch_index
        return min(1.0, index / max(1, self.total_batches - 1))

    def current_rate(self) -> float:
        """The masking rate for the batch being collated: the schedule's, else `mlm_probability`."""
        return self.mlm_probability if self.schedule is None else float(self.schedule(self.progress()))

    def training_position(self) -> tuple[int, int]:
        """What advances with every batch this copy collates; `restore_position` undoes batches that were not
        training batches (`MaskingScheduleCallback` brackets the Trainer's evaluation with the two)."""
        return self._calls, self._batch_index

    def restore_position(self, position: tuple[int, int]) -> None:
        self._calls, self._batch_index = position

    def next_generator(self, input_ids: torch.Tensor) -> torch.Generator:
        """The generator of the batch `input_ids` (B, T, padded), which this copy of the collator collates next.

        Seeded from (seed, epoch, content): see the module docstring. Also advances the global batch index
        that schedules read: DataLoader workers take batches round-robin, so worker w's k-th batch is
        batch start_batch + w + num_workers × k of this process, whatever num_workers is (`set_process`). With
        `persistent_workers=True` the workers keep their copies across epochs, so `set_epoch` does not
        reach them: give such a DataLoader no `set_epoch` calls and the collator counts passes itself.
        """
        info = torch.utils.data.get_worker_info()
        worker_id, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        self._batch_index = (self.start_batch + worker_id + num_workers * self._calls) * self.num_processes + self.process_index
        self._calls += 1
        key = content_hash(input_ids)
        epoch = self.epoch if self.epoch is not None else self._count_passes(0 if info is None else 1 + worker_id % MAX_WORKER_SLOTS, key)
        return torch.Generator().manual_seed(batch_seed(self.seed, epoch, key))

    def _count_passes(self, slot: int, key: int) -> int:
        """Passes over the data seen by this slot: one more each time its first batch comes back."""
        row = self._passes.numpy()[slot]  # a view of the shared tensor; only the process of this slot writes it
        signed = key - (1 << 64) if key >= 1 << 63 else key
        if not bool(row[0]):
            row[0], row[1] = 1, signed
        elif int(row[1]) == signed:
            row[2] += 1
        return int(row[2])

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Collate `features` (dicts with `input_ids`, optional `attention_mask`, `special_tokens_mask`,
        `word_ids`, `token_type_ids`) into `input_ids`, `attention_mask`, `labels` (and `token_type_ids`)."""
        return self.outputs(self.select(features))

    def select(self, features: list[dict[str, Any]]) -> SelectedBatch:
        """Pad the features and choose the positions to predict."""
        if not features or "input_ids" not in features[0]:
            raise MlmkitError(
                "MaskingCollator needs a non-empty list of features with 'input_ids'; got "
                f"{type(features).__name__} of {len(features) if hasattr(features, '__len__') else '?'} items"
                + (f" with keys {sorted(features[0])}" if features and hasattr(features[0], 'keys') else "")
            )
        try:
            input_ids, inside, lengths = pad_feature(features, "input_ids", self.pad_token_id, self.pad_to_multiple_of)
        except KeyError:
            index = next(index for index, feature in enumerate(features) if "input_ids" not in feature)
            raise MlmkitError(f"feature {index} has no 'input_ids' (keys {sorted(features[index])}); every feature needs them") from None
        self._check_ids(input_ids, inside)
        generator = self.next_generator(input_ids)
        attention_mask = inside.long()
        if features[0].get("attention_mask") is not None and not holds_only_ones(features, "attention_mask", lengths):
            given_mask = self._optional(features, "attention_mask", 0, lengths, input_ids.shape[1])
            _check_binary("attention_mask", given_mask)
            attention_mask *= given_mask  # rows padded before collation keep their padding out
        is_special = per_token(self.special_table, input_ids)
        maskable = attention_mask.bool() & ~is_special
        special_tokens_mask = self._optional(features, "special_tokens_mask", 1, lengths, input_ids.shape[1])
        if special_tokens_mask is not None:
            maskable &= special_tokens_mask == 0
        word_ids = self._word_ids(features, input_ids, maskable, lengths) if self.masker.needs_words else None
        place = getattr(self.masker, "place", None)  # strategies that place their own units (MASS fragments)
        choose = getattr(self.masker, "choose", None)  # strategies that select from their ids (InforMask modes)
        if place is not None:
            unit_ids, selected = place(maskable, self.current_rate(), generator)
        elif choose is not None:
            unit_ids, selected = choose(input_ids, maskable, word_ids, self.current_rate(), generator)
        else:
            schedule_inputs = {"progress": self.progress()} if getattr(self.masker, "uses_progress", False) else {}
            unit_ids, unit_weights = self.masker.units(input_ids, maskable, word_ids, generator, **schedule_inputs)
            budget = token_budget(maskable, self.current_rate())
            cut = word_ids if self.masker.truncatable else None
            selected = select_units(unit_ids, budget, generator, unit_weights, truncate_at_words=cut)
        extras = {}
        token_type_ids = self._optional(features, "token_type_ids", 0, lengths, input_ids.shape[1])
        if token_type_ids is not None:
            extras["token_type_ids"] = token_type_ids
        return SelectedBatch(input_ids, attention_mask, maskable, unit_ids, selected, generator, extras, word_ids)

    def outputs(self, batch: SelectedBatch) -> dict[str, torch.Tensor]:
        """Turn the selected batch into model inputs with the output stage chosen by `output`."""
        return OUTPUTS[self.output](self, batch)

    def _check_ids(self, input_ids: torch.Tensor, inside: torch.Tensor) -> None:
        """Raise MlmkitError naming the feature if an id is outside the tokenizer's vocabulary."""
        size = len(self.tokenizer)
        low, high = torch.aminmax(input_ids) if input_ids.numel() else (0, 0)
        if int(low) < 0 or int(high) >= size:
            row, position = (((input_ids < 0) | (input_ids >= size)) & inside).nonzero()[0].tolist()
            raise MlmkitError(
                f"feature {row}: input_ids holds {int(input_ids[row, position])} at position {position}, outside the "
                f"tokenizer's ids 0..{size - 1}; build the collator with the tokenizer that made these ids"
            )

    def _optional(self, features: list[dict[str, Any]], key: str, fill: int, lengths: np.ndarray, width: int) -> torch.Tensor | None:
        """Pad per-token column `key` to `width` if the features have it (HF's rule: the first feature's keys),
        else None. Every row must have its input_ids row's length."""
        if features[0].get(key) is None:
            return None
        missing = next((index for index, feature in enumerate(features) if feature.get(key) is None), None)
        if missing is not None:
            raise MlmkitError(
                f"feature {missing} has no {key!r} (or None) but feature 0 has one; give every feature the same columns"
            )
        return pad_feature(features, key, fill, length=width, row_lengths=lengths)[0]

    def _word_ids(self, features: list[dict[str, Any]], input_ids: torch.Tensor, maskable: torch.Tensor, lengths: np.ndarray) -> torch.Tensor:
        """Words from the features' `word_ids` if present, else derived from the ids (`mlmkit.data.word_boundaries`)."""
        given = self._optional(features, "word_ids", -1, lengths, input_ids.shape[1])
        return batch_word_ids(self.word_boundaries, input_ids, maskable, given)


def _check_binary(key: str, column: torch.Tensor) -> None:
    """Raise MlmkitError naming the feature and position of a value other than 0 or 1 in a mask column (B, T)."""
    bad = (column >> 1) != 0  # anything but 0 and 1, negatives included, in one pass
    if bool(bad.any()):
        row, position = bad.nonzero()[0].tolist()
        raise MlmkitError(
            f"feature {row}: {key!r} holds {int(column[row, position])} at position {position}; a mask holds 0 (padding) or 1"
        )


def _check_options(
    tokenizer: Any,
    mlm_probability: float,
    mask_replace_prob: float,
    random_replace_prob: float,
    pad_to_multiple_of: int | None,
    seed: int,
) -> None:
    """Raise MlmkitError for options a collator can not work with, saying what to change."""
    if getattr(tokenizer, "mask_token_id", None) is None:
        raise MlmkitError(
            f"tokenizer {type(tokenizer).__name__} has no mask token, which masked language modelling needs; "
            "add one with tokenizer.add_special_tokens({'mask_token': '[MASK]'}) and resize the model's embeddings"
        )
    if getattr(tokenizer, "pad_token_id", None) is None:
        raise MlmkitError(
            f"tokenizer {type(tokenizer).__name__} has no pad token, which batching needs; "
            "set one, e.g. tokenizer.pad_token = tokenizer.eos_token or add_special_tokens({'pad_token': '[PAD]'})"
        )
    if not 0.0 < mlm_probability <= 1.0:
        raise MlmkitError(f"mlm_probability={mlm_probability} must be in (0, 1]; BERT uses 0.15, Wettig et al. 0.4")
    try:
        check_replacement_probs(mask_replace_prob, random_replace_prob)
    except ValueError as error:
        raise MlmkitError(str(error)) from None
    if pad_to_multiple_of is not None and (not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1):
        raise MlmkitError(f"pad_to_multiple_of={pad_to_multiple_of!r} must be a positive int (e.g. 8) or None")
    if not isinstance(seed, int) or seed < 0:
        raise MlmkitError(f"seed={seed!r} must be a non-negative int")


def build_collator(name: str, tokenizer: Any, **options: Any) -> MaskingCollator:
    """Build the masking collator for strategy `name` (a key of `mlmkit.masking.MASKERS`).

    Options go to the strategy when they are its dataclass fields (e.g. `geometric_p` for "span") and to
    `MaskingCollator` otherwise (`mlm_probability`, `mask_replace_prob`, `random_replace_prob`,
    `pad_to_multiple_of`, `seed`). A strategy class that needs the tokenizer or files to be built (corpus
    statistics) may define a classmethod `build(tokenizer, **its_options)`, used instead of its constructor,
    and a class attribute `collator_defaults` (MASS: `{"mlm_probability": 0.5, "output": "mass"}`) that
    replaces `MaskingCollator`'s defaults.

    Raises:
        MlmkitError: unknown strategy or option (naming the nearest valid one), or an invalid value.
    """
    check_collator_options(name, options)
    masker_class = MASKERS[name]
    masker_options = {f.name for f in fields(masker_class) if f.init}
    own = {key: value for key, value in options.items() if key in masker_options}
    try:
        builder = getattr(masker_class, "build", None)
        masker = builder(tokenizer, **own) if builder is not None else masker_class(**own)
    except (TypeError, ValueError) as error:
        if isinstance(error, MlmkitError):
            raise
        raise MlmkitError(f"masking strategy {name!r}: {error}") from None
    rest = {key: value for key, value in options.items() if key not in masker_options}
    return MaskingCollator(tokenizer, masker, **{**getattr(masker_class, "collator_defaults", {}), **rest})


def option_types(name: str) -> dict[str, Any]:
    """Option name -> type annotation of every option `build_collator(name, ...)` accepts."""
    masker_class = MASKERS[name]
    hints = typing.get_type_hints(masker_class)
    types = {f.name: hints[f.name] for f in fields(masker_class) if f.init}
    collator_hints = typing.get_type_hints(MaskingCollator.__init__)
    for parameter in inspect.signature(MaskingCollator.__init__).parameters:
        if parameter not in ("self", "tokenizer", "masker"):
            types.setdefault(parameter, collator_hints[parameter])
    return types


def check_collator_options(name: str, options: dict[str, Any], key_prefix: str = "") -> None:
    """Raise MlmkitError for an unknown strategy, an unknown option or an option of the wrong type.

    Args:
        name: the strategy, a key of `mlmkit.masking.MASKERS`.
        options: what `build_collator` would get as keyword options.
        key_prefix: how the caller names the options, e.g. "collator.options." for a recipe.
    """
    if name not in MASKERS:
        raise MlmkitError(f"unknown masking strategy {name!r}; choose one of {sorted(MASKERS)}{did_you_mean(name, MASKERS, cutoff=0.0)}")
    types = option_types(name)
    for key, value in options.items():
        if key not in types:
            valid = sorted(types)
            raise MlmkitError(
                f"unknown option {key_prefix + key!r} for masking strategy {name!r}; valid options: {valid}"
                f"{did_you_mean(key, valid, cutoff=0.0)}"
            )
        if not matches_type(types[key], value):
            raise MlmkitError(
                f"option {key_prefix}{key}={value!r} of masking strategy {name!r} has the wrong type; "
                f"expected {describe_type(types[key])}"
            )
