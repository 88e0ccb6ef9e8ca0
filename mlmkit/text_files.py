"""Read text files that users give us: the whole file is checked as UTF-8 before any work.

A corpus that is valid UTF-8 for its first article and has latin-1 bytes later must fail at once,
naming the file and line of the first bad byte, not after an hour of tokenizer training.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from mlmkit.errors import MlmkitError

_CHUNK = 1 << 20


def check_utf8(path: str | Path, what: str = "file") -> Path:
    """Return `path` as a Path if the whole file decodes as UTF-8, else raise MlmkitError.

    Streams the file in 1 MiB chunks (memory bounded for any size).

    Raises:
        MlmkitError: missing file, a folder, unreadable, or a byte that is not UTF-8 (with its
            line and byte offset).
    """
    file = Path(path)
    if not file.is_file():
        state = "is a folder, not a file" if file.is_dir() else "does not exist"
        raise MlmkitError(f"{what} {str(file)!r} {state}")
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before, offset = 0, 0
    try:
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                pending = decoder.getstate()[0]
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as error:
                    seen = (pending + chunk)[: error.start]
                    line = lines_before + seen.count(b"\n") + 1
                    raise MlmkitError(
                        f"{what} {str(file)!r}, line {line} (byte {offset - len(pending) + error.start}): "
                        f"byte 0x{(pending + chunk)[error.start]:02x} is not UTF-8; convert the file to UTF-8 "
                        f"(e.g. iconv -f latin1 -t utf-8 {file.name} > {file.stem}.utf8{file.suffix})"
                    ) from None
                lines_before += chunk.count(b"\n")
                offset += len(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise MlmkitError(f"{what} {str(file)!r}, line {lines_before + 1}: the file ends inside a UTF-8 character") from None
    except OSError as error:
        raise MlmkitError(f"cannot read {what} {str(file)!r}: {error.strerror or error}") from None
    return file


def read_text_file(path: str | Path, what: str = "file", encoding: str = "utf-8") -> str:
    """The text of a UTF-8 file (`check_utf8` first, so errors name the line of a bad byte)."""
    return check_utf8(path, what).read_text(encoding=encoding)
