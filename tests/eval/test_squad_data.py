"""Reading official SQuAD files, offset checks, article splits and window labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlmkit.errors import MlmkitError
from mlmkit.eval.squad.data import parse_squad, read_squad, split_by_article
from mlmkit.eval.squad.features import build_windows


def payload(answer_start: int) -> dict:
    context = "Black Death killed many people in Europe."
    qas = [
        {"id": "good", "question": "What killed many?", "answers": [{"text": "Black Death", "answer_start": 0}]},
        {"id": "bad", "question": "Where?", "answers": [{"text": "Europe", "answer_start": answer_start}]},
    ]
    return {"version": "1.1", "data": [{"title": "A", "paragraphs": [{"context": context, "qas": qas}]}]}


def test_reads_official_v11_sample(shared_data: Path) -> None:
    squad = read_squad(shared_data / "squad" / "dev-v1.1.sample.json")
    assert squad.version == "1.1" and len(squad.examples) == 340 and squad.bad_ids == []
    assert {example.title for example in squad.examples} == {"Sky_(United_Kingdom)", "Victoria_(Australia)", "Black_Death"}


def test_reads_official_v20_sample_with_unanswerable(shared_data: Path) -> None:
    squad = read_squad(shared_data / "squad" / "dev-v2.0.sample.json")
    impossible = [example for example in squad.examples if example.is_impossible]
    assert squad.version == "2.0" and len(squad.examples) == 463 and len(impossible) == 261
    assert all(not example.answers and example.plausible_answers for example in impossible)
    assert squad.bad_ids == []


def test_wrong_answer_start_is_reported_not_raised() -> None:
    squad = parse_squad(payload(answer_start=3))
    assert squad.bad_ids == ["bad"] and len(squad.examples) == 2
    assert parse_squad(payload(answer_start=34)).bad_ids == []


def test_unreadable_files_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(MlmkitError, match="does not exist"):
        read_squad(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(MlmkitError, match="not valid JSON"):
        read_squad(tmp_path / "broken.json")
    (tmp_path / "other.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(MlmkitError, match="not a SQuAD file"):
        read_squad(tmp_path / "other.json")


def test_split_by_article_holds_out_whole_last_articles(shared_data: Path) -> None:
    examples = read_squad(shared_data / "squad" / "dev-v1.1.sample.json").examples
    train, dev = split_by_article(examples, 0.3)  # ceil(0.3 x 3) = 1 article
    assert {e.title for e in dev} == {"Black_Death"}
    assert not {e.title for e in train} & {e.title for e in dev} and len(train) + len(dev) == len(examples)
    with pytest.raises(MlmkitError, match="strictly between 0 and 1"):
        split_by_article(examples, 1.0)


def test_window_labels_cover_the_answer_text(shared_data: Path, minilm_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path), local_files_only=True)
    examples = read_squad(shared_data / "squad" / "dev-v1.1.sample.json").examples[:120]
    windows = build_windows(tokenizer, examples, max_length=128, doc_stride=32, with_labels=True)
    assert len(windows) > len(examples)  # some contexts need several windows
    labelled = set()
    for w, index in enumerate(windows.example_index):
        start, end = int(windows.tensors["start_positions"][w]), int(windows.tensors["end_positions"][w])
        if start == windows.cls_index[w]:
            continue
        answer = examples[index].answers[0].text
        offsets = windows.offsets[w]
        # WordPiece offsets lose nothing but surrounding white space
        assert examples[index].context[offsets[start][0] : offsets[end][1]] == answer.strip()
        labelled.add(index)
    assert len(labelled) == len(examples)  # every answer is wholly inside some window


def test_bad_ids_get_no_training_windows_and_bad_lengths_fail(minilm_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path), local_files_only=True)
    squad = parse_squad(payload(answer_start=3))
    windows = build_windows(tokenizer, squad.examples, with_labels=True, skip_ids=frozenset(squad.bad_ids))
    assert windows.example_index == [0]
    with pytest.raises(MlmkitError, match="--doc-stride 200 with --max-length 256"):
        build_windows(tokenizer, squad.examples, max_length=256, doc_stride=200)
