"""Span decoding over sliding windows: a planted span is recovered from constructed logits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mlmkit.eval.squad.data import Answer, SquadExample
from mlmkit.eval.squad.decode import decode_windows, final_predictions
from mlmkit.eval.squad.features import build_windows

ANSWER = "the golden needle of Avalon"


@pytest.fixture(scope="module")
def tokenizer(minilm_path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_path), local_files_only=True)


def long_example(position: int) -> SquadExample:
    """A context of 40 filler sentences with the answer planted after sentence `position`."""
    sentences = [f"Sentence {k} talks about item {k} in detail." for k in range(40)]
    before = " ".join(sentences[:position]) + " It hid "
    context = before + ANSWER + ". " + " ".join(sentences[position:])
    return SquadExample("q", "t", "What did it hide?", context, (Answer(ANSWER, len(before)),))


def planted_logits(windows, target_window: int, start: int, end: int, height: float = 10.0):
    generator = torch.Generator().manual_seed(0)
    shape = windows.tensors["input_ids"].shape
    start_logits = torch.randn(shape, generator=generator)
    end_logits = torch.randn(shape, generator=generator)
    start_logits[target_window, start] = height
    end_logits[target_window, end] = height
    return start_logits, end_logits


def answer_windows(windows) -> list[int]:
    return [w for w in range(len(windows)) if windows.tensors["start_positions"][w] != windows.cls_index[w]]


@pytest.mark.parametrize("position", [2, 20, 35])
def test_labels_point_at_the_answer_in_every_window_that_holds_it(tokenizer, position: int) -> None:
    example = long_example(position)
    windows = build_windows(tokenizer, [example], max_length=128, doc_stride=32, with_labels=True)
    assert len(windows) >= 4  # the context really is cut into several windows
    holding = answer_windows(windows)
    assert holding
    for w in holding:
        start, end = int(windows.tensors["start_positions"][w]), int(windows.tensors["end_positions"][w])
        offsets = windows.offsets[w]
        assert example.context[offsets[start][0] : offsets[end][1]] == ANSWER


@pytest.mark.parametrize("position", [2, 20, 35])
def test_decoder_recovers_planted_span_in_any_window(tokenizer, position: int) -> None:
    example = long_example(position)
    windows = build_windows(tokenizer, [example], max_length=128, doc_stride=32, with_labels=True)
    target = answer_windows(windows)[-1]
    start, end = int(windows.tensors["start_positions"][target]), int(windows.tensors["end_positions"][target])
    start_logits, end_logits = planted_logits(windows, target, start, end)
    # decoys that must lose: a lower-scoring span in another window, and higher logits on
    # question tokens (outside the context), which must never be chosen
    other = (target + 2) % len(windows)
    context_positions = [p for p, span in enumerate(windows.offsets[other]) if span is not None]
    start_logits[other, context_positions[3]] = end_logits[other, context_positions[5]] = 9.0
    start_logits[:, 1] = end_logits[:, 2] = 50.0  # tokens 1-2 are question tokens
    decoded = decode_windows([example], windows, start_logits, end_logits)
    assert decoded["q"].text == ANSWER
    assert decoded["q"].score == pytest.approx(20.0)


def test_decoder_respects_max_answer_length_and_order(tokenizer) -> None:
    example = long_example(20)
    windows = build_windows(tokenizer, [example], max_length=128, doc_stride=32)
    context = [p for p, span in enumerate(windows.offsets[0]) if span is not None]
    start_logits = torch.full(windows.tensors["input_ids"].shape, -100.0)
    end_logits = torch.full_like(start_logits, -100.0)
    assert len(context) > 60
    for position, value in ((10, 5.0), (60, 30.0), (20, 20.0)):
        start_logits[0, context[position]] = value
    for position, value in ((12, 5.0), (58, 30.0), (55, 20.0)):
        end_logits[0, context[position]] = value
    # every higher-scoring pair ends before it starts (60 -> 58) or spans more than 30 tokens (20 -> 55)
    decoded = decode_windows([example], windows, start_logits, end_logits, max_answer_length=30)
    offsets = windows.offsets[0]
    assert decoded["q"].text == example.context[offsets[context[10]][0] : offsets[context[12]][1]]


def test_null_score_decides_v2_answers(tokenizer) -> None:
    example = long_example(20)
    windows = build_windows(tokenizer, [example], max_length=128, doc_stride=32, with_labels=True)
    target = answer_windows(windows)[0]
    start, end = int(windows.tensors["start_positions"][target]), int(windows.tensors["end_positions"][target])
    start_logits, end_logits = planted_logits(windows, target, start, end, height=6.0)  # span score 12
    start_logits[:, 0] = end_logits[:, 0] = 8.0  # [CLS] in every window: null score 16 in all
    start_logits[1, 0] = 7.0  # the lowest null score over windows counts: 15
    decoded = decode_windows([example], windows, start_logits, end_logits)
    assert decoded["q"].null_score == pytest.approx(15.0)
    assert decoded["q"].score_diff == pytest.approx(3.0)
    assert final_predictions(decoded, "2.0") == {"q": ""}
    assert final_predictions(decoded, "2.0", null_threshold=3.5) == {"q": ANSWER}
    assert final_predictions(decoded, "1.1") == {"q": ANSWER}
