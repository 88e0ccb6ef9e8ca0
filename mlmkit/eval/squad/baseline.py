"""A trivial SQuAD baseline to read scores against: answer every question with the first
sentence of its paragraph (no model). Rajpurkar et al. 2016 §5 compare against a sliding-window
baseline; this one is cruder and needs nothing but the text."""

from __future__ import annotations

import re

from mlmkit.eval.squad.data import SquadExample

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def first_sentence_predictions(examples: list[SquadExample]) -> dict[str, str]:
    """id -> the first sentence of the question's context."""
    return {example.id: _SENTENCE_END.split(example.context.strip(), maxsplit=1)[0] for example in examples}
