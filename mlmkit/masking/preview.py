"""What a strategy masks in a piece of text, for `mlmkit show-mask`: runs the real collator on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlmkit.errors import MlmkitError

# ANSI background colours, alternated so that neighbouring units stay distinguishable.
_COLOURS = ("\033[30;43m", "\033[30;46m")
_RESET = "\033[0m"


@dataclass(frozen=True)
class MaskPreview:
    """One masked sentence: the text, the character ranges of the masked units, and what the model sees."""

    text: str
    unit_spans: tuple[tuple[int, int], ...]  # character ranges, one per masked unit (or its masked part)
    model_input: tuple[str, ...]  # tokens after 80/10/10, specials included
    masked_tokens: int
    maskable_tokens: int


def preview_mask(collator: Any, tokenizer: Any, text: str) -> MaskPreview:
    """Mask `text` with `collator` (one batch of one row, the tokenizer's own word ids) and describe the result."""
    if not getattr(tokenizer, "is_fast", False):
        raise MlmkitError("show-mask needs a fast tokenizer (tokenizer.json) for character offsets; save one with tokenizers")
    encoded = tokenizer(text, truncation=True, return_offsets_mapping=True, return_special_tokens_mask=True)
    feature = {
        "input_ids": encoded["input_ids"],
        "attention_mask": encoded["attention_mask"],
        "special_tokens_mask": encoded["special_tokens_mask"],
        "word_ids": [-1 if word is None else word for word in encoded.word_ids()],
    }
    batch = collator.select([feature])
    corrupted = collator.outputs(batch)["input_ids"][0].tolist()
    selected = batch.selected[0].tolist()
    units = batch.unit_ids[0].tolist()
    offsets = encoded["offset_mapping"]
    spans: list[list[int]] = []
    previous_unit = None
    for position, is_selected in enumerate(selected):
        if not is_selected:
            previous_unit = None
            continue
        start, end = offsets[position]
        if units[position] == previous_unit:
            spans[-1][1] = end
        else:
            spans.append([start, end])
        previous_unit = units[position]
    return MaskPreview(
        text=text,
        unit_spans=tuple((start, end) for start, end in spans),
        model_input=tuple(tokenizer.convert_ids_to_tokens(corrupted)),
        masked_tokens=sum(selected),
        maskable_tokens=int(batch.maskable[0].sum()),
    )


def render_preview(preview: MaskPreview, colour: bool) -> str:
    """The text with masked units in colour (terminal) or [brackets] (pipes, files), then a summary and the
    model's input."""
    pieces, cursor = [], 0
    for index, (start, end) in enumerate(preview.unit_spans):
        pieces.append(preview.text[cursor:start])
        unit = preview.text[start:end]
        pieces.append(f"{_COLOURS[index % 2]}{unit}{_RESET}" if colour else f"[{unit}]")
        cursor = end
    pieces.append(preview.text[cursor:])
    share = preview.masked_tokens / preview.maskable_tokens if preview.maskable_tokens else 0.0
    return (
        "".join(pieces)
        + f"\n\nmasked {preview.masked_tokens} of {preview.maskable_tokens} tokens ({share:.1%}) "
        + f"in {len(preview.unit_spans)} units\nmodel input: {' '.join(preview.model_input)}\n"
    )
