"""Read the official SQuAD JSON (v1.1 and v2.0) into flat question records.

The official files nest article -> paragraph -> question. Everything downstream works per
question, so we flatten once here and keep the article title for splitting by article
(the data README asks for article-level splits: questions about one paragraph are not
independent).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from mlmkit.errors import MlmkitError
from mlmkit.text_files import read_text_file

VERSIONS = ("1.1", "2.0")


@dataclass(frozen=True)
class Answer:
    """One gold answer: its text and its character offset in the context."""

    text: str
    answer_start: int


@dataclass(frozen=True)
class SquadExample:
    """One question with its context; `answers` is empty for v2.0 unanswerable questions."""

    id: str
    title: str
    question: str
    context: str
    answers: tuple[Answer, ...]
    is_impossible: bool = False
    plausible_answers: tuple[Answer, ...] = ()


@dataclass
class SquadFile:
    """A parsed SQuAD file: its questions in file order and the ids whose offsets are wrong."""

    version: str
    examples: list[SquadExample]
    bad_ids: list[str] = field(default_factory=list)


def _answers(raw: list[dict], where: str) -> tuple[Answer, ...]:
    try:
        return tuple(Answer(str(a["text"]), int(a["answer_start"])) for a in raw)
    except (KeyError, TypeError, ValueError) as error:
        raise MlmkitError(f"{where}: each answer needs 'text' and an integer 'answer_start' ({error!r})") from error


def answer_matches(context: str, answer: Answer) -> bool:
    """True if `answer_start` points at the answer text in `context` (the official data guarantees it)."""
    return context[answer.answer_start : answer.answer_start + len(answer.text)] == answer.text


def _question(raw: dict, title: str, context: str, where: str) -> SquadExample:
    try:
        qid, question = str(raw["id"]), str(raw["question"])
    except KeyError as error:
        raise MlmkitError(f"{where}: a question lacks {error}; SQuAD questions need 'id' and 'question'") from error
    return SquadExample(
        id=qid,
        title=title,
        question=question,
        context=context,
        answers=_answers(raw.get("answers", []), f"{where}, question {qid}"),
        is_impossible=bool(raw.get("is_impossible", False)),
        plausible_answers=_answers(raw.get("plausible_answers", []), f"{where}, question {qid}"),
    )


def parse_squad(payload: dict, source: str = "<json>") -> SquadFile:
    """Flatten an official SQuAD payload; collect (never raise on) ids whose answer offsets are wrong."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise MlmkitError(f"{source}: not a SQuAD file; expected {{'version': ..., 'data': [articles]}}")
    version = "2.0" if str(payload.get("version", "")).lstrip("v") == "2.0" else "1.1"
    examples: list[SquadExample] = []
    bad_ids: list[str] = []
    for article_index, article in enumerate(payload["data"]):
        title = str(article.get("title", f"article-{article_index}"))
        for paragraph in article.get("paragraphs", []):
            context = str(paragraph["context"])
            for raw in paragraph.get("qas", []):
                example = _question(raw, title, context, f"{source}, article {title!r}")
                if example.is_impossible:
                    version = "2.0"
                if not all(answer_matches(context, a) for a in example.answers + example.plausible_answers):
                    bad_ids.append(example.id)
                examples.append(example)
    return SquadFile(version=version, examples=examples, bad_ids=bad_ids)


def read_squad(path: str | Path) -> SquadFile:
    """Read an official SQuAD v1.1 / v2.0 JSON file (version taken from the file, or 2.0 if any
    question is `is_impossible`)."""
    file = Path(path)
    if not file.is_file():
        raise MlmkitError(f"SQuAD file {str(file)!r} does not exist; pass the path of a train-v1.1.json-style file")
    try:
        payload = json.loads(read_text_file(file, "SQuAD file"))
    except json.JSONDecodeError as error:
        raise MlmkitError(f"{str(file)!r} is not valid JSON (line {error.lineno}: {error.msg})") from error
    return parse_squad(payload, str(file))


def split_by_article(examples: list[SquadExample], dev_fraction: float) -> tuple[list[SquadExample], list[SquadExample]]:
    """Hold out the last ceil(dev_fraction x articles) articles as dev; deterministic, no RNG.

    Splitting by article, not by question, keeps paragraphs seen in training out of the dev set.
    """
    if not 0.0 < dev_fraction < 1.0:
        raise MlmkitError(f"dev fraction {dev_fraction} must lie strictly between 0 and 1 (e.g. 0.25)")
    titles = list(dict.fromkeys(example.title for example in examples))
    if len(titles) < 2:
        raise MlmkitError(f"cannot split by article: the file has {len(titles)} article(s); pass --dev FILE instead")
    n_dev = min(len(titles) - 1, max(1, math.ceil(dev_fraction * len(titles))))
    dev_titles = set(titles[-n_dev:])
    train = [example for example in examples if example.title not in dev_titles]
    dev = [example for example in examples if example.title in dev_titles]
    return train, dev
