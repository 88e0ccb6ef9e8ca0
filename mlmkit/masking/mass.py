"""MASS: masked sequence-to-sequence pretraining (Song et al., ICML 2019).

One contiguous fragment of k = round(ratio × length) tokens per sequence is corrupted in the encoder
input (80/10/10, BERT's `apply_replacement`), and the decoder predicts it from the encoder and the
fragment's own prefix only: decoder input = the fragment shifted right by one (starting with the
token before the fragment, or the decoder start token when the fragment opens the sequence), labels
= the fragment. Tokens outside the fragment never reach the decoder (MASS §2.2: this forces the
decoder to rely on the encoder). The ratio is the collator's `mlm_probability` (MASS: k = 50 % is
best; k = 1 is close to BERT's MLM, k = m to a GPT-style language model).

Length, placement (MASS-unsupNMT `restricted_mask_sent` / `mask_start`):
- "length" is the span from a row's first to its last maskable token (specials at the ends and
  padding excluded); k = round(ratio × length) (half to even, like Python's `round` in the
  reference code), at least 1 and at most the length.
- The fragment starts at the first token with probability 0.2, ends at the last one with
  probability 0.2, and otherwise starts uniformly at random among all length − k + 1 starts
  (`placement_probs`, configurable).
- Span-segmented variant (MASS-summarization `masked_s2s`): with `block_size` = B, the span is cut
  into blocks of B tokens (the last may be shorter) and each block gets its own fragment of
  round(ratio × block length) tokens, placed by the same rule inside the block. The decoder then
  reads all fragments in order, each shifted right by one within the sequence (`src[pos − 1]`).

Decoder position convention: `decoder_position_ids` are the positions of the TARGETS (the
fragment's own positions), as MASS-summarization passes them (`positions = masked_pos`, plus
fairseq's padding offset). MASS-unsupNMT (XLM) instead uses the positions of the decoder INPUTS,
one less. We take the target convention because with it a fragment covering the whole sequence
gets positions 0, 1, 2, …, exactly BART's default decoder positions, which fine-tuning and
`generate` use: pretraining and downstream use then agree on what position t means.

Separators inside the span (packed documents) may fall into a fragment: they are never corrupted
in the encoder (only maskable tokens are) but the decoder predicts them like any other token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from mlmkit.masking.corruption import IGNORE_INDEX
from mlmkit.masking.units import token_unit_ids

# MASS-unsupNMT `mask_start`: 20 % at the start, 20 % at the end, 60 % uniformly at random.
DEFAULT_PLACEMENT_PROBS = (0.2, 0.2, 0.6)


def _special_id(tokenizer: Any, names: tuple[str, ...], role: str, example: str) -> int:
    """The first of the tokenizer's `names` (e.g. "bos_token_id") that is set."""
    for name in names:
        token_id = getattr(tokenizer, name, None)
        if token_id is not None:
            return int(token_id)
    tokens = ", ".join(name.removesuffix("_token_id") for name in names)
    raise ValueError(
        f"tokenizer {type(tokenizer).__name__} has no {tokens} token to {role}; "
        f"add one, e.g. tokenizer.add_special_tokens({example})"
    )


def decoder_start_token_id(tokenizer: Any) -> int:
    """The id that opens a decoder input: the tokenizer's BOS (<s>), else its CLS ([CLS] for WordPiece).

    The MASS collator puts it before a fragment that begins the sequence; `mass_bart_config`
    makes it the model's `decoder_start_token_id`, which `generate` starts from.
    """
    names = ("bos_token_id", "cls_token_id", "eos_token_id", "sep_token_id")
    return _special_id(tokenizer, names, "start the decoder with", "{'bos_token': '<s>'}")


def decoder_end_token_id(tokenizer: Any) -> int:
    """The id that ends a target and stops `generate`: the tokenizer's EOS (</s>), else its SEP."""
    return _special_id(tokenizer, ("eos_token_id", "sep_token_id"), "end a sequence with", "{'eos_token': '</s>'}")


def check_placement_probs(placement_probs: tuple[float, float, float]) -> None:
    """Raise ValueError unless (start, end, random) are three probabilities that sum to 1."""
    if len(placement_probs) != 3 or any(not 0.0 <= p <= 1.0 for p in placement_probs):
        raise ValueError(
            f"placement_probs={tuple(placement_probs)} must be three probabilities (start, end, random), "
            "e.g. (0.2, 0.2, 0.6) as in MASS"
        )
    if abs(sum(placement_probs) - 1.0) > 1e-6:
        raise ValueError(f"placement_probs={tuple(placement_probs)} sum to {sum(placement_probs)}; they must sum to 1")


def content_span(maskable: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First maskable position and span length per row, (B,) each; length 0 for rows with nothing maskable."""
    length_t = maskable.shape[1]
    any_maskable = maskable.any(dim=1)
    first = maskable.int().argmax(dim=1)
    last = length_t - 1 - maskable.flip(1).int().argmax(dim=1)
    length = torch.where(any_maskable, last - first + 1, 0)
    return torch.where(any_maskable, first, 0), length


def select_fragments(
    maskable: torch.Tensor,
    rate: float | torch.Tensor,
    generator: torch.Generator,
    placement_probs: tuple[float, float, float] = DEFAULT_PLACEMENT_PROBS,
    block_size: int | None = None,
) -> torch.Tensor:
    """Place one contiguous fragment per row (or per block of `block_size` tokens); vectorised over the batch.

    Args:
        maskable: BoolTensor (B, T), False at specials and padding.
        rate: the fragment's share of the span, a float or a FloatTensor (B,) (MASS: 0.5).
        generator: the only source of randomness (one uniform draw per row and block).
        placement_probs: probabilities of (start, end, uniformly random) placement.
        block_size: None for one fragment per row; B for one fragment per block of B tokens.

    Returns:
        BoolTensor (B, T): True on the fragment(s).
    """
    batch, length_t = maskable.shape
    if length_t == 0:  # a batch of empty rows: nothing to place
        return torch.zeros_like(maskable)
    first, span = content_span(maskable)  # (B,), (B,)
    size = length_t if block_size is None else int(block_size)
    num_blocks = max(1, -(-length_t // size))
    block_offset = torch.arange(num_blocks) * size  # (N,)
    block_length = (span[:, None] - block_offset).clamp(0, size)  # (B, N)
    rate = torch.as_tensor(rate, dtype=torch.float64).reshape(-1, 1)  # (B, 1) or (1, 1)
    k = torch.round(rate * block_length).long().clamp(min=1)
    k = torch.minimum(k, block_length)  # (B, N), 0 for empty blocks
    room = block_length - k  # admissible starts - 1
    draw = torch.rand((batch, num_blocks), generator=generator, dtype=torch.float64)  # (B, N)
    p_start, p_end, p_random = placement_probs
    # One draw decides the branch; inside the random branch its rescaled rest is a fresh uniform.
    uniform = ((draw - p_start - p_end) / max(p_random, 1e-12)).clamp(0.0, 1.0 - 1e-12)
    offset = torch.where(draw < p_start, 0, torch.where(draw < p_start + p_end, room, (uniform * (room + 1)).long()))
    start = first[:, None] + block_offset + offset  # (B, N) absolute
    positions = torch.arange(length_t)  # (T,)
    relative = positions - first[:, None]  # (B, T)
    block = (relative // size).clamp(0, num_blocks - 1)  # (B, T)
    fragment_start = start.gather(1, block)
    fragment_end = fragment_start + k.gather(1, block)
    inside_span = (relative >= 0) & (relative < span[:, None])
    return inside_span & (positions >= fragment_start) & (positions < fragment_end)


def decoder_inputs(
    input_ids: torch.Tensor,
    fragment: torch.Tensor,
    start_token_id: int,
    pad_token_id: int,
    pad_to_multiple_of: int | None = None,
) -> dict[str, torch.Tensor]:
    """The decoder side of MASS: the fragment tokens, in order, shifted right by one.

    Args:
        input_ids: LongTensor (B, T), the UNcorrupted sequence.
        fragment: BoolTensor (B, T) from `select_fragments`.
        start_token_id: decoder input before a fragment that begins at position 0.
        pad_token_id: fills decoder inputs beyond a row's fragment.
        pad_to_multiple_of: pad the decoder length up to a multiple of this.

    Returns:
        `decoder_input_ids` (B, L): input_ids[p − 1] for each fragment position p (start token at p = 0);
        `labels` (B, L): input_ids[p], -100 on padding; `decoder_position_ids` (B, L): p (0 on padding);
        `decoder_attention_mask` (B, L): 1 on the fragment. L = the longest fragment (total) in the batch.
    """
    counts = fragment.sum(dim=1)  # (B,)
    width = max(1, int(counts.max()) if counts.numel() else 1)
    if pad_to_multiple_of:
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    # Stable sort brings each row's fragment positions to the front, in sequence order.
    order = torch.argsort((~fragment).to(torch.uint8), dim=1, stable=True)  # (B, T)
    if width > order.shape[1]:
        order = torch.cat([order, order.new_zeros(order.shape[0], width - order.shape[1])], dim=1)
    positions = order[:, :width]  # (B, L)
    valid = torch.arange(width) < counts[:, None]  # (B, L)
    if input_ids.shape[1] == 0:  # a batch of empty rows: one padding column to gather from
        input_ids = input_ids.new_full((input_ids.shape[0], 1), pad_token_id)
    labels = input_ids.gather(1, positions).masked_fill(~valid, IGNORE_INDEX)
    previous = input_ids.gather(1, (positions - 1).clamp(min=0))
    previous = torch.where(positions == 0, start_token_id, previous).masked_fill(~valid, pad_token_id)
    return {
        "decoder_input_ids": previous,
        "decoder_attention_mask": valid.long(),
        "decoder_position_ids": positions.masked_fill(~valid, 0),
        "labels": labels,
    }


@dataclass(frozen=True)
class MassMasker:
    """MASS's strategy: one contiguous fragment per sequence (or per block), decoded by a seq2seq model.

    The fragment's share of the sequence is the collator's `mlm_probability` (default 0.5 for this
    strategy, MASS's k = 50 %), so rate schedules apply to it like to any other strategy. Unlike
    unit-sampling strategies it places its units itself (`place`), and its collator's output stage
    defaults to "mass" (`mlmkit.masking.outputs.mass_output`): build it with
    `mlmkit.build_collator("mass", tokenizer)`.

    Args:
        placement_probs: probabilities of placing a fragment at the start, at the end, or uniformly
            at random (MASS: 0.2, 0.2, 0.6).
        block_size: None for one fragment per sequence (MASS-unsupNMT); B for one fragment per block
            of B tokens (MASS-summarization uses B = 64 with rate 0.15 on 512-token documents).
    """

    placement_probs: tuple[float, float, float] = DEFAULT_PLACEMENT_PROBS
    block_size: int | None = None

    needs_words: ClassVar[bool] = False
    truncatable: ClassVar[bool] = False
    corrupt_per_unit: ClassVar[bool] = False
    collator_defaults: ClassVar[dict[str, Any]] = {"mlm_probability": 0.5, "output": "mass"}

    def __post_init__(self) -> None:
        object.__setattr__(self, "placement_probs", tuple(float(p) for p in self.placement_probs))
        check_placement_probs(self.placement_probs)
        size = self.block_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValueError(
                f"block_size={size!r} must be a positive int (MASS-summarization: 64) or None for one fragment per sequence"
            )

    def place(
        self, maskable: torch.Tensor, rate: float | torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Units (every maskable token its own, as MASS corrupts per token) and the fragment positions (B, T).

        Fragments never include special tokens: a separator inside a fragment's span stays visible in
        the encoder and is skipped by the decoder.
        """
        fragment = select_fragments(maskable, rate, generator, self.placement_probs, self.block_size)
        return token_unit_ids(maskable), fragment & maskable

