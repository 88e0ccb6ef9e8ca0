"""Turn SQuAD questions into fixed-length model windows (sliding over long contexts).

BERT §4.2 / its run_squad.py: a context longer than the window is cut into overlapping
windows, question first, so every answer lies wholly inside at least one window. We use the
fast tokenizer's `return_overflowing_tokens` with `stride` = number of overlapping context
tokens (Hugging Face's meaning of `doc_stride`), and its `offset_mapping` to map token spans
back to character spans of the context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from mlmkit.errors import MlmkitError
from mlmkit.eval.squad.data import SquadExample

# BERT's run_squad.py caps questions at 64 tokens so a long question never leaves no room for context.
MAX_QUESTION_TOKENS = 64
Offsets = list[tuple[int, int] | None]


@dataclass
class Windows:
    """Model inputs for all windows, plus what decoding needs to map logits back to text.

    Attributes:
        tensors: `input_ids`, `attention_mask` (and `token_type_ids` when the tokenizer makes
            them), all (W, max_length); with labels also `start_positions`, `end_positions` (W,).
        example_index: for each window, the index of its question in the example list.
        offsets: for each window and token, the (start, end) character span in the context,
            or None for question, special and padding tokens (never part of an answer).
        cls_index: for each window, the position of the [CLS] token (the "no answer" target).
    """

    tensors: dict[str, torch.Tensor]
    example_index: list[int]
    offsets: list[Offsets]
    cls_index: list[int]

    def __len__(self) -> int:
        return len(self.example_index)


class WindowDataset(torch.utils.data.Dataset):
    """A map-style dataset over the window tensors; the default collate stacks them into a batch dict."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {name: values[index] for name, values in self.tensors.items()}


def _clip_question(tokenizer: Any, question: str) -> str:
    question = question.lstrip()  # some official questions start with spaces, which only waste room
    offsets = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    if len(offsets) <= MAX_QUESTION_TOKENS:
        return question
    return question[: offsets[MAX_QUESTION_TOKENS - 1][1]]


def _context_offsets(encoding: Any, window: int) -> Offsets:
    sequence_ids = encoding.sequence_ids(window)
    return [
        tuple(span) if sequence_ids[position] == 1 else None
        for position, span in enumerate(encoding["offset_mapping"][window])
    ]


def _token_span(offsets: Offsets, char_start: int, char_end: int) -> tuple[int, int] | None:
    """First and last token of the window covering [char_start, char_end), or None if the answer
    is not wholly inside the window's context."""
    context = [position for position, span in enumerate(offsets) if span is not None]
    if not context or offsets[context[0]][0] > char_start or offsets[context[-1]][1] < char_end:
        return None
    start = next(p for p in context if offsets[p][1] > char_start)
    end = next(p for p in reversed(context) if offsets[p][0] < char_end)
    return (start, end) if start <= end else None


def _check_lengths(max_length: int, doc_stride: int) -> None:
    room = max_length - MAX_QUESTION_TOKENS - 3  # [CLS] question [SEP] context [SEP]
    if room <= 0 or not 0 <= doc_stride < room:
        raise MlmkitError(
            f"--doc-stride {doc_stride} with --max-length {max_length}: the overlap between windows must be "
            f"below the context room of a window ({room} tokens after a {MAX_QUESTION_TOKENS}-token question); "
            "lower --doc-stride or raise --max-length (defaults 128 and 384)"
        )


def build_windows(
    tokenizer: Any,
    examples: list[SquadExample],
    *,
    max_length: int = 384,
    doc_stride: int = 128,
    with_labels: bool = False,
    skip_ids: frozenset[str] = frozenset(),
) -> Windows:
    """Tokenise question/context pairs into padded windows of `max_length` tokens.

    With `with_labels`, each window gets the token positions of the first gold answer, or the
    [CLS] position when the question is unanswerable (v2.0) or the answer is not wholly inside
    that window (BERT's convention). Examples in `skip_ids` (bad answer offsets) get no windows.
    """
    _check_lengths(max_length, doc_stride)
    kept = [index for index, example in enumerate(examples) if example.id not in skip_ids]
    encoding = tokenizer(
        [_clip_question(tokenizer, examples[i].question) for i in kept],
        [examples[i].context for i in kept],
        truncation="only_second",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in encoding]
    tensors = {name: torch.tensor(encoding[name], dtype=torch.long) for name in names}
    example_index = [kept[i] for i in encoding["overflow_to_sample_mapping"]]
    offsets = [_context_offsets(encoding, window) for window in range(len(example_index))]
    cls_index = [ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in ids else 0 for ids in encoding["input_ids"]]
    if with_labels:
        starts, ends = [], []
        for window, index in enumerate(example_index):
            example = examples[index]
            span = None
            if example.answers and not example.is_impossible:
                answer = example.answers[0]
                span = _token_span(offsets[window], answer.answer_start, answer.answer_start + len(answer.text))
            start, end = span or (cls_index[window], cls_index[window])
            starts.append(start)
            ends.append(end)
        tensors["start_positions"] = torch.tensor(starts, dtype=torch.long)
        tensors["end_positions"] = torch.tensor(ends, dtype=torch.long)
    return Windows(tensors=tensors, example_index=example_index, offsets=offsets, cls_index=cls_index)
