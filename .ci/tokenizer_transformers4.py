"""Tokenizers that mlmkit trains load in transformers 4.x: run `save` with mlmkit (transformers 5), `check` in a
venv with `transformers<5` and no torch; encodings and special tokens must agree.

  .venv/bin/python .ci/tokenizer_transformers4.py save DIR
  /tmp/tf4/bin/python .ci/tokenizer_transformers4.py check DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TEXTS = ["Unaffable people don't smile; they grimace!", "A <mask> and a [MASK] in   the text.", "Ünïcödé ﬁ — and tabs\there"]
KINDS = {"wordpiece": 800, "bpe": 800, "unigram": 800}


def encodings(tokenizer) -> dict:
    encoded = tokenizer(TEXTS)
    return {"input_ids": encoded["input_ids"], "word_ids": [encoded.word_ids(i) for i in range(len(TEXTS))],
            "special": {role: getattr(tokenizer, role) for role in ("mask_token", "pad_token", "cls_token", "sep_token", "unk_token")}}


def save(folder: Path) -> None:
    from mlmkit.data.corpus import default_corpus_path
    from mlmkit.data.tokenizer import train_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for kind, size in KINDS.items():
        result = train_tokenizer([default_corpus_path()], kind, size, folder / kind, lowercase=kind == "wordpiece", show_progress=False)
        expected[kind] = encodings(result.tokenizer)
    (folder / "expected.json").write_text(json.dumps(expected), encoding="utf-8")


def check(folder: Path) -> None:
    import transformers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    assert transformers.__version__.startswith("4."), transformers.__version__
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    for kind in KINDS:
        for loader in (AutoTokenizer, PreTrainedTokenizerFast):
            got = encodings(loader.from_pretrained(str(folder / kind)))
            assert got == expected[kind], (kind, loader.__name__, got, expected[kind])
        print(f"transformers {transformers.__version__} loads the {kind} tokenizer: same ids, word ids and special tokens")


if __name__ == "__main__":
    {"save": save, "check": check}[sys.argv[1]](Path(sys.argv[2]))
