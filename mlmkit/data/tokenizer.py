"""Train BERT-, RoBERTa- and SentencePiece-style tokenizers and save them as transformers fast tokenizers.

All three kinds cut text into the same *words* before subword training: runs of characters
between whitespace, with every punctuation character (BERT's definition: ASCII punctuation
and Unicode category P) a word of its own. So `tokenizer.word_ids()` means the same thing
for every kind, and whole-word / span masking (BERT WWM; SpanBERT §3.1) sees the same units:

- ``wordpiece`` (BERT, Devlin et al. 2019 §3): BertNormalizer (lowercase with `lowercase`),
  BertPreTokenizer, WordPiece with ``##`` continuations, ``[CLS] A [SEP] (B [SEP])``;
  specials [PAD] [UNK] [CLS] [SEP] [MASK]. The decoder joins words with single spaces
  (no clean-up), so decode(encode(x)) is x with whitespace collapsed and a space around
  punctuation.
- ``bpe`` (RoBERTa, Liu et al. 2019 §4.4: byte-level BPE, no unknown tokens): no
  normalizer (Lowercase with `lowercase`), each word keeps its leading space as ``Ġ``;
  ``<s> A </s></s> B </s>``; specials <s> <pad> </s> <unk> <mask>. Lossless: decode(encode(x)) == x.
- ``unigram`` (SentencePiece/ALBERT, Kudo 2018): NFKC, whitespace collapsed and stripped,
  spaces as ``▁`` (Metaspace); ALBERT's specials <pad> <unk> [CLS] [SEP] [MASK] and template
  ``[CLS] A [SEP] (B [SEP])``. decode(encode(x)) is x normalised (NFKC, whitespace collapsed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlmkit.data.sources import DocumentSource, corpus_source, document_source
from mlmkit.data.output_folder import atomic_folder, check_output_folder
from mlmkit.errors import MlmkitError

KINDS = ("wordpiece", "bpe", "unigram")
RECORD_FILE = "mlmkit_tokenizer.json"  # what the tokenizer was trained from, so a rerun can reuse it

# Role -> token, in id order (ids 0..4). BERT, RoBERTa and ALBERT conventions respectively.
SPECIAL_TOKENS: dict[str, dict[str, str]] = {
    "wordpiece": {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"},
    "bpe": {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>", "mask_token": "<mask>"},
    "unigram": {"pad_token": "<pad>", "unk_token": "<unk>", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"},
}

# BERT's punctuation: ASCII punctuation and symbols, plus Unicode category P (tokenizers' is_punc).


@dataclass(frozen=True)
class TrainedTokenizer:
    """What `train_tokenizer` made: the fast tokenizer, its folder, and whether a previous run was reused."""

    tokenizer: Any
    path: Path
    reused: bool


_PUNCTUATION = r"\p{P}\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E"


def train_tokenizer(
    corpus_files: Iterable[str | Path] | None,
    kind: str,
    vocab_size: int,
    out_dir: str | Path,
    lowercase: bool = False,
    min_frequency: int = 2,
    model_max_length: int = 512,
    corpus_format: str = "auto",
    overwrite: bool = False,
    show_progress: bool = True,
    dataset: Any = None,
    text_column: str = "text",
    split: str = "train",
    dataset_config: str | None = None,
) -> TrainedTokenizer:
    """Train a tokenizer of `kind` on text files or a dataset and save it as a fast tokenizer folder.

    Args:
        corpus_files: UTF-8 text files (documents as read by `mlmkit.data.corpus.read_documents`), or None
            with `dataset`.
        kind: "wordpiece", "bpe" or "unigram" (see the module docstring).
        vocab_size: entries in the vocabulary, special tokens included.
        out_dir: folder to write; `AutoTokenizer.from_pretrained(out_dir)` loads it.
        lowercase: lowercase text first (BERT "uncased"; also strips accents for wordpiece).
        min_frequency: pairs seen fewer times are never merged (wordpiece, bpe).
        model_max_length: longest input the models using this tokenizer accept (BERT/RoBERTa: 512).
        corpus_format: document layout of the files, see `mlmkit.data.corpus`.
        overwrite: replace a non-empty `out_dir`.
        show_progress: show the trainer's progress bars.
        dataset, text_column, split, dataset_config: a dataset to train on instead of files, as
            `mlmkit.data.sources.document_source` opens it.

    Returns:
        TrainedTokenizer with the `PreTrainedTokenizerFast` as saved. If `out_dir` already holds a
        tokenizer trained from the same file contents and options, that one is loaded instead (reused=True).
    """
    _check_arguments(kind, vocab_size, out_dir, min_frequency, model_max_length, overwrite=True)
    source = _text_source(corpus_files, corpus_format, dataset, text_column, split, dataset_config)
    options = {"kind": kind, "vocab_size": vocab_size, "lowercase": lowercase, "min_frequency": min_frequency}
    options.update(model_max_length=model_max_length, corpus_format=corpus_format)
    key = hashlib.sha256(json.dumps({"source": source.identity, **options}, sort_keys=True).encode()).hexdigest()
    reused = _reuse(out_dir, key) if source.identity is not None else None
    if reused is not None:
        return reused
    check_output_folder(out_dir, overwrite)
    backend = _build_backend(kind, lowercase)
    pinned = _continuation_pieces(source, lowercase) if kind == "wordpiece" else []
    trainer = _build_trainer(kind, vocab_size, min_frequency, show_progress, pinned)
    try:
        backend.train_from_iterator(_documents(source), trainer)
    except Exception as error:  # tokenizers raises a bare Exception for a too-small unigram vocabulary
        if "not large enough" in str(error):
            raise MlmkitError(_too_small_message(kind, vocab_size, _minimum_size(backend, kind, source))) from error
        raise
    if backend.get_vocab_size() > vocab_size:  # wordpiece/bpe keep their whole alphabet, unigram all characters
        raise MlmkitError(_too_small_message(kind, vocab_size, _minimum_size(backend, kind, source)))
    backend = _unpin(backend, pinned)
    _add_post_processor(backend, kind)
    tokenizer = _wrap(backend, kind, model_max_length)
    with atomic_folder(out_dir, overwrite) as temporary:
        save_tokenizer(tokenizer, temporary)
        (temporary / RECORD_FILE).write_text(json.dumps({"cache_key": key, "options": options}, indent=2))
    return TrainedTokenizer(tokenizer, Path(out_dir), reused=False)


def save_tokenizer(tokenizer: Any, folder: str | Path) -> None:
    """`save_pretrained`, recording a class name that transformers 4.x and 5.x both load.

    transformers 5 saves its generic fast tokenizer as "TokenizersBackend", a name 4.x does not know
    ("Tokenizer class TokenizersBackend does not exist"); "PreTrainedTokenizerFast" is that class in 4.x and
    its alias in 5.x, and both read the same tokenizer.json.
    """
    tokenizer.save_pretrained(str(folder))
    config_path = Path(folder) / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("tokenizer_class") == "TokenizersBackend":
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _reuse(out_dir: str | Path, key: str) -> TrainedTokenizer | None:
    """The tokenizer saved in `out_dir` if it was trained from the same inputs, else None."""
    from transformers import AutoTokenizer

    record = Path(out_dir) / RECORD_FILE
    try:
        same = json.loads(record.read_text()).get("cache_key") == key
    except (OSError, ValueError):
        return None
    if not same:
        return None
    return TrainedTokenizer(AutoTokenizer.from_pretrained(str(out_dir), local_files_only=True), Path(out_dir), reused=True)


def tokenizer_vocab_hash(tokenizer: Any) -> str:
    """A stable sha256 of the tokenizer's vocabulary (token → id pairs, sorted by id).

    Two tokenizers with the same hash map every string piece to the same id, which is all the statistics
    depend on; the hash ignores the file layout a tokenizer was saved in.
    """
    vocab = tokenizer.get_vocab()
    digest = hashlib.sha256()
    for token, index in sorted(vocab.items(), key=lambda item: item[1]):
        digest.update(f"{index}\t{token}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def check_mlm_tokenizer(tokenizer: Any, source: str | Path = "the tokenizer") -> Any:
    """Return `tokenizer` if masked-LM data preparation can use it, else raise MlmkitError.

    It must be a fast tokenizer (word ids come from `word_ids()`) with a mask and a pad token.
    """
    name = type(tokenizer).__name__
    if not getattr(tokenizer, "is_fast", False):
        raise MlmkitError(
            f"{str(source)!r} loads as a slow tokenizer ({name}); word ids need a fast tokenizer: "
            "save it with tokenizer.json (AutoTokenizer.from_pretrained(..., use_fast=True).save_pretrained(folder))"
        )
    for role in ("mask_token", "pad_token"):
        if getattr(tokenizer, role, None) is None:
            raise MlmkitError(
                f"tokenizer {str(source)!r} has no {role.replace('_token', '')} token; masked-LM pretraining needs "
                f"one. Train a tokenizer with `mlmkit tokenizer train`, or set tokenizer.{role} and save_pretrained it again"
            )
    return tokenizer


def load_mlm_tokenizer(path: str | Path) -> Any:
    """Load the fast tokenizer of folder or Hub id `path` and check it with `check_mlm_tokenizer`."""
    from mlmkit.hub import is_hub_id
    from mlmkit.models.loading import load_tokenizer

    if not is_hub_id(path) and not Path(path).is_dir():
        raise MlmkitError(f"tokenizer folder {str(path)!r} does not exist; train one with `mlmkit tokenizer train --out {path}`")
    return check_mlm_tokenizer(load_tokenizer(path), path)


def _text_source(corpus_files, corpus_format, dataset, text_column, split, dataset_config) -> DocumentSource:
    """Where the training text comes from: the files, or the dataset's text column (never token ids)."""
    if dataset is None:
        return corpus_source(corpus_files or [], corpus_format)
    if corpus_files:
        raise MlmkitError("give corpus files or a dataset to train the tokenizer on, not both")
    source = document_source(dataset, text_column, split, dataset_config)
    if source.pretokenized:
        raise MlmkitError(f"the dataset has token ids but no text column {text_column!r}; a tokenizer trains on text: pass --text-column")
    return source


def _documents(source: DocumentSource) -> Iterator[str]:
    for batch in source.batches(1000):
        yield from batch


def _check_arguments(kind, vocab_size, out_dir, min_frequency, model_max_length, overwrite) -> None:
    if kind not in KINDS:
        raise MlmkitError(f"unknown tokenizer kind {kind!r}; choose one of {', '.join(KINDS)}")
    specials = len(SPECIAL_TOKENS[kind])
    if vocab_size <= specials:
        raise MlmkitError(f"vocab size {vocab_size} leaves no room beside the {specials} special tokens; use a few thousand or more")
    if min_frequency < 1:
        raise MlmkitError(f"min frequency must be at least 1, got {min_frequency}")
    if model_max_length < 2:
        raise MlmkitError(f"model max length must be at least 2 tokens, got {model_max_length}")
    check_output_folder(out_dir, overwrite)


def _minimum_size(backend: Any, kind: str, source: DocumentSource) -> int:
    """Smallest vocab size the trainer honours: for wordpiece/bpe the size of the vocabulary it
    produced when asked for less (alphabet + specials); for unigram every character of the
    normalised corpus, "▁" included, plus the specials and one more piece."""
    if kind != "unigram":
        return backend.get_vocab_size()
    characters: set[str] = {"▁"}
    for document in _documents(source):
        characters.update(backend.normalizer.normalize_str(document).replace(" ", "▁"))
    return len(characters) + len(SPECIAL_TOKENS[kind]) + 1


def _too_small_message(kind: str, vocab_size: int, needed: int) -> str:
    return (
        f"vocab size {vocab_size} is smaller than the alphabet of the corpus plus the {len(SPECIAL_TOKENS[kind])} "
        f"special tokens: the {kind} vocabulary needs at least {needed} entries; use --vocab-size {needed} or more"
    )


def _build_backend(kind: str, lowercase: bool) -> Any:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    if kind == "wordpiece":
        backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        backend.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)
        return backend
    # One word = optional leading space + a run of non-space, non-punctuation characters, or
    # optional leading space + one punctuation character; runs of spaces are kept (byte-level
    # BPE is lossless), a last space stays with the next word as GPT-2's "\s+(?!\S)" does.
    if kind == "bpe":
        backend = Tokenizer(models.BPE())
        backend.normalizer = normalizers.Lowercase() if lowercase else None
        words = Regex(rf"\s?[^\s{_PUNCTUATION}]+|\s?[{_PUNCTUATION}]|\s+(?!\S)|\s+")
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(words, behavior="isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        )
        backend.decoder = decoders.ByteLevel()
        return backend
    backend = Tokenizer(models.Unigram())
    steps = [normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    backend.normalizer = normalizers.Sequence(steps + ([normalizers.Lowercase()] if lowercase else []))
    # prepend_scheme="always" on the whole normalised text: "first" skips the prefix when
    # Strip() removed leading spaces (its offset is then not 0).
    words = Regex(rf"▁?[^▁{_PUNCTUATION}]+|▁?[{_PUNCTUATION}]|▁+")
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False), pre_tokenizers.Split(words, behavior="isolated")]
    )
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    return backend


def _continuation_pieces(source: DocumentSource, lowercase: bool) -> list[str]:
    """Every `##c` piece the WordPiece trainer will create for this corpus, sorted.

    Why: the `tokenizers` trainers (0.23) number these pieces in the iteration order of a hash map
    seeded at random per process, and break ties between equally frequent merges by those numbers,
    so the same corpus gave another vocabulary on every run (huggingface/tokenizers#1794). Handing
    the trainer every piece up front, in sorted order, fixes their numbers and with them every tie.
    A first pass with no merges lists them: the trainer makes all of them before it merges.
    """
    from tokenizers import trainers

    probe = _build_backend("wordpiece", lowercase)
    probe.train_from_iterator(_documents(source), trainers.WordPieceTrainer(vocab_size=1, show_progress=False))
    return sorted(token for token in probe.get_vocab() if token.startswith("##"))


def _unpin(backend: Any, pinned: list[str]) -> Any:
    """The trained tokenizer without `pinned` among its added (special) tokens; they stay in the vocabulary."""
    if not pinned:
        return backend
    from tokenizers import Tokenizer

    state = json.loads(backend.to_str())
    drop = set(pinned)
    state["added_tokens"] = [token for token in state["added_tokens"] if token["content"] not in drop]
    return Tokenizer.from_str(json.dumps(state))


def _build_trainer(kind: str, vocab_size: int, min_frequency: int, show_progress: bool, pinned: list[str]) -> Any:
    from tokenizers import pre_tokenizers, trainers

    specials = list(SPECIAL_TOKENS[kind].values())
    if kind == "wordpiece":
        return trainers.WordPieceTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials + pinned, show_progress=show_progress
        )
    if kind == "bpe":
        return trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes: no unknown tokens
            show_progress=show_progress,
        )
    return trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>", show_progress=show_progress)


def _add_post_processor(backend: Any, kind: str) -> None:
    from tokenizers import processors

    def special(token: str) -> tuple[str, int]:
        return token, backend.token_to_id(token)

    if kind == "bpe":
        backend.post_processor = processors.RobertaProcessing(special("</s>"), special("<s>"), add_prefix_space=False)
        return
    cls, sep = SPECIAL_TOKENS[kind]["cls_token"], SPECIAL_TOKENS[kind]["sep_token"]
    backend.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B:1 {sep}:1", special_tokens=[special(cls), special(sep)]
    )


def _wrap(backend: Any, kind: str, model_max_length: int) -> Any:
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast

    tokens: dict[str, Any] = dict(SPECIAL_TOKENS[kind])
    if kind == "bpe":
        # RoBERTa: "<mask>" absorbs the space before it, so "a <mask>" masks the word " b" of "a b".
        tokens["mask_token"] = AddedToken("<mask>", lstrip=True, rstrip=False, special=True)
        tokens.update(cls_token="<s>", sep_token="</s>")
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, model_max_length=model_max_length, padding_side="right", clean_up_tokenization_spaces=False, **tokens
    )
