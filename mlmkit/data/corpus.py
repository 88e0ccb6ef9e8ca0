"""Read plain-text corpora as a stream of documents, and locate the embedded default corpus.

A *document* is the unit that packing keeps apart with a separator token (RoBERTa §4.2,
FULL-SENTENCES: "inputs may cross document boundaries ... we add an extra separator token
between documents"). How a file is cut into documents depends on its layout:

- ``wikitext``: WikiText raw (Merity et al., 2016). A title line `` = Title = `` between two
  blank lines starts a new article; each article is one document. Title and heading lines
  (`` = = Heading = = ``) lose their ``=`` markup and stay as plain lines; the release's
  ``@-@`` escapes are kept. Lines of the form `` = ... = `` that are not between blank lines
  (formula fragments in wiki.test.raw) are ordinary text.
- ``blank-line``: documents separated by one or more blank lines (BERT's pretraining format,
  PubMed title + abstract files).
- ``line``: one document per non-blank line.
- ``auto`` (default): ``wikitext`` if the first non-blank line is a `` = Title = `` line, else
  ``blank-line`` if the file has a blank line between text lines, else ``line``.

Within a document, lines are stripped of surrounding whitespace and joined with ``\\n``.
Files are streamed line by line, so corpora larger than memory are fine.

Structured files (JSON Lines, CSV, Parquet, Arrow, anything compressed) are refused with a pointer to
`--dataset`, which reads them through `datasets`: read as plain text they would train on their syntax.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path

from mlmkit.errors import MlmkitError
from mlmkit.text_files import check_utf8

CORPUS_FORMATS = ("auto", "wikitext", "blank-line", "line")

_TITLE = re.compile(r"^ = (?!=)(.*\S) = $")
_HEADING = re.compile(r"^ (=(?: =)*) (.*\S) \1 $")
_SNIFF_LINES = 1000

# Data-file suffix -> the `datasets` builder that reads it (`load_dataset(kind, data_files=...)`).
DATA_FILE_KINDS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".arrow": "arrow", ".txt": "text"}
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".lz4")


def data_file_kind(path: str | Path) -> str | None:
    """The `datasets` builder for a data file by its suffix, compression suffix ignored (None: not a data file)."""
    suffixes = [suffix.lower() for suffix in Path(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes = suffixes[:-1]
    return DATA_FILE_KINDS.get(suffixes[-1]) if suffixes else None


def default_corpus_path() -> Path:
    """Return the path of the embedded corpus (WikiText-2 raw validation split, 1.1 MB, CC BY-SA 3.0).

    It ships inside the package so that the demo runs on a fresh machine with no download;
    see mlmkit/resources/wikitext/ATTRIBUTION.md.
    """
    path = Path(str(resources.files("mlmkit").joinpath("resources", "wikitext", "wiki.valid.raw")))
    if not path.is_file():
        raise MlmkitError(f"the embedded corpus {str(path)!r} is missing: reinstall mlmkit (pip install --force-reinstall mlmkit)")
    return path


def check_corpus_paths(paths: Iterable[str | Path], setting: str = "") -> list[Path]:
    """Return `paths` as Paths; raise MlmkitError naming the first that is missing or a folder (a cheap check,
    made before a run creates its output folder), after `setting` (e.g. "data.corpus") when given."""
    files = [Path(path) for path in paths]
    for path in files:
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise MlmkitError(f"{setting + ': ' if setting else ''}corpus file {str(path)!r} {what}; pass UTF-8 text files")
    return files


def check_corpus_files(paths: Iterable[str | Path]) -> list[Path]:
    """Return `paths` as Paths; raise MlmkitError naming the first missing, unreadable, non-UTF-8 (with
    file and line) or empty one."""
    files = check_corpus_paths(paths)
    if not files:
        raise MlmkitError("no corpus file given; pass at least one text file (for example --corpus corpus.txt)")
    for path in files:
        _refuse_structured(path)
        check_utf8(path, "corpus file")  # the whole file, before any expensive work
        if next(read_documents(path), None) is None:
            raise MlmkitError(f"corpus file {str(path)!r} is empty (no non-blank line); pass a file with text in it")
    return files


def _refuse_structured(path: Path) -> None:
    """Raise MlmkitError if `path` is a data file that plain-text reading would take apart as text."""
    suffix = "".join(path.suffixes[-2:]).lower()
    kind = data_file_kind(path)
    compressed = path.suffix.lower() in COMPRESSION_SUFFIXES
    if kind not in (None, "text") or compressed or _first_line_is_json_object(path):
        what = f"a compressed file ({suffix})" if compressed else f"a structured data file ({kind or 'JSON Lines'})"
        raise MlmkitError(
            f"corpus file {str(path)!r} is {what}, not plain text; pass it as --dataset {path} "
            "(data.dataset in a recipe), with --text-column naming the text column"
        )


def _first_line_is_json_object(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            first = next((line for _, line in zip(range(_SNIFF_LINES), handle) if line.strip()), "").strip()
    except (OSError, UnicodeDecodeError):
        return False
    if not (first.startswith("{") and first.endswith("}")):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except ValueError:
        return False


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks (cache keys depend on content, not names)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_documents(path: str | Path, corpus_format: str = "auto") -> Iterator[str]:
    """Yield the documents of one text file, in file order (see the module docstring for formats).

    Args:
        path: UTF-8 text file.
        corpus_format: one of CORPUS_FORMATS.

    Yields:
        Non-empty documents, lines joined with "\\n".
    """
    if corpus_format not in CORPUS_FORMATS:
        raise MlmkitError(f"unknown corpus format {corpus_format!r}; choose one of {', '.join(CORPUS_FORMATS)}")
    if corpus_format == "auto":
        corpus_format = sniff_format(path)
    with open(path, encoding="utf-8") as handle:
        if corpus_format == "line":
            yield from (line.strip() for line in handle if line.strip())
        elif corpus_format == "blank-line":
            yield from _blank_line_documents(handle)
        else:
            yield from _wikitext_documents(handle)


def read_corpus(paths: Iterable[str | Path], corpus_format: str = "auto") -> Iterator[str]:
    """Yield the documents of several files, one file after the other."""
    for path in paths:
        yield from read_documents(path, corpus_format)


def sniff_format(path: str | Path) -> str:
    """Guess the layout of a file from its first lines (the rule is in the module docstring)."""
    with open(path, encoding="utf-8") as handle:
        lines = [line for _, line in zip(range(_SNIFF_LINES), handle)]
    text_lines = [index for index, line in enumerate(lines) if line.strip()]
    if not text_lines:
        return "line"
    if _TITLE.match(lines[text_lines[0]].rstrip("\n")):
        return "wikitext"
    inner = lines[text_lines[0] : text_lines[-1]]
    return "blank-line" if any(not line.strip() for line in inner) else "line"


def _blank_line_documents(lines: Iterable[str]) -> Iterator[str]:
    paragraph: list[str] = []
    for line in lines:
        if line.strip():
            paragraph.append(line.strip())
        elif paragraph:
            yield "\n".join(paragraph)
            paragraph = []
    if paragraph:
        yield "\n".join(paragraph)


def _wikitext_documents(lines: Iterable[str]) -> Iterator[str]:
    """Cut WikiText raw at title lines that stand between blank lines (one-line lookahead)."""
    article: list[str] = []
    previous_blank = True
    iterator = iter(lines)
    current = next(iterator, None)
    while current is not None:
        following = next(iterator, None)
        line = current.rstrip("\n")
        next_blank = following is None or not following.strip()
        if previous_blank and next_blank and _TITLE.match(line):
            if article:
                yield "\n".join(article)
            article = [_TITLE.match(line).group(1).strip()]
        elif line.strip():
            heading = _HEADING.match(line) if previous_blank and next_blank else None
            article.append(heading.group(2).strip() if heading else line.strip())
        previous_blank = not line.strip()
        current = following
    if article:
        yield "\n".join(article)
