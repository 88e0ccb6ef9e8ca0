"""One small, versioned file format for every corpus-statistics artifact.

A statistics file is a safetensors file (tensors only: never unpickled) whose string metadata holds one
JSON header under the key "mlmkit": format version, strategy, the tokenizer's vocabulary hash, the corpus
fingerprint, the builder's options, the creation time and the sha256 of the tensors (names, dtypes, shapes
and bytes), which `load_stats` verifies: corrupted tensor bytes under an intact header are refused. `load_stats` refuses a file built for another
strategy or tokenizer, because token ids (and the word hashes built from them) mean nothing under another
vocabulary.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mlmkit.data.tokenizer import tokenizer_vocab_hash
from mlmkit.errors import MlmkitError

FORMAT_VERSION = 2  # 2: the header holds the sha256 of the tensors
HEADER_KEY = "mlmkit"


def fingerprint_files(paths: list[Path]) -> list[dict[str, Any]]:
    """Name, size and streamed sha256 of each corpus file: enough to tell whether a corpus changed."""
    from mlmkit.data.corpus import file_sha256

    return [{"path": str(path), "bytes": path.stat().st_size, "sha256": file_sha256(path)} for path in paths]


@dataclass(frozen=True)
class Stats:
    """A loaded statistics artifact: its tensors and its JSON header."""

    tensors: dict[str, torch.Tensor]
    header: dict[str, Any]

    @property
    def options(self) -> dict[str, Any]:
        return self.header["options"]


def save_stats(
    path: str | Path,
    strategy: str,
    tensors: dict[str, torch.Tensor],
    tokenizer: Any,
    corpus: Any,
    options: dict[str, Any],
    summary: dict[str, Any] | None = None,
) -> Path:
    """Write `tensors` and the header to `path` (parent folders created); returns the path.

    Args:
        path: output file, conventionally `*.safetensors`.
        strategy: the masking strategy these statistics serve (e.g. "pmi").
        tensors: name → tensor; made contiguous before writing.
        tokenizer: the tokenizer whose ids the tensors refer to.
        corpus: a JSON-able fingerprint of the corpus (see `fingerprint_files`).
        options: the builder's options, so a run can be reproduced.
        summary: small JSON-able facts for humans (counts, top entries).
    """
    from safetensors.torch import save_file

    header = {
        "format_version": FORMAT_VERSION,
        "strategy": strategy,
        "tokenizer_vocab_hash": tokenizer_vocab_hash(tokenizer),
        "vocab_size": len(tokenizer.get_vocab()),
        "corpus": corpus,
        "options": options,
        "summary": summary or {},
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    contiguous = {name: tensor.contiguous() for name, tensor in tensors.items()}
    header["tensors_sha256"] = tensors_sha256(contiguous)
    save_file(contiguous, str(out), metadata={HEADER_KEY: json.dumps(header)})
    return out


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}\t{tensor.dtype}\t{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def read_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of a statistics file, without loading its tensors."""
    from safetensors import safe_open

    file = Path(path)
    if not file.is_file():
        raise MlmkitError(f"statistics file {str(file)!r} does not exist; build it with `mlmkit stats STRATEGY ... --out FILE`")
    try:
        with safe_open(str(file), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as error:  # safetensors raises its own error types for malformed files
        raise MlmkitError(f"{str(file)!r} is not a safetensors statistics file ({error}); rebuild it with `mlmkit stats`") from error
    if HEADER_KEY not in metadata:
        raise MlmkitError(f"{str(file)!r} has no mlmkit header: it was not written by `mlmkit stats`")
    return json.loads(metadata[HEADER_KEY])


def load_stats(path: str | Path | None, tokenizer: Any, strategy: str) -> Stats:
    """Load a statistics file, checking it was built for `strategy` and for this tokenizer's vocabulary.

    Raises:
        MlmkitError: no path given (a collator built without `stats=`), missing or malformed file, another
            format version, another strategy, or another tokenizer (vocabulary hash differs).
    """
    from safetensors.torch import load_file

    if path is None:
        raise MlmkitError(
            f"masking strategy {strategy!r} needs its corpus statistics: build them with "
            f"`mlmkit stats {strategy} --corpus FILE --tokenizer DIR --out {strategy}.safetensors` and pass stats=FILE"
        )
    header = read_header(path)
    if header.get("format_version") != FORMAT_VERSION:
        raise MlmkitError(
            f"{str(path)!r} has statistics format version {header.get('format_version')!r}, this mlmkit reads "
            f"version {FORMAT_VERSION}; rebuild it with `mlmkit stats {header.get('strategy', 'STRATEGY')}`"
        )
    if header.get("strategy") != strategy:
        raise MlmkitError(
            f"{str(path)!r} holds statistics for strategy {header.get('strategy')!r}, not {strategy!r}; "
            f"pass a file built with `mlmkit stats {strategy} ...`"
        )
    expected = tokenizer_vocab_hash(tokenizer)
    if header.get("tokenizer_vocab_hash") != expected:
        raise MlmkitError(
            f"{str(path)!r} was built for another tokenizer (vocab hash {header.get('tokenizer_vocab_hash', '?')[:12]}…, "
            f"{header.get('vocab_size')} ids) than the one given (vocab hash {expected[:12]}…, "
            f"{len(tokenizer.get_vocab())} ids); rebuild it with `mlmkit stats {strategy} --tokenizer DIR` for this tokenizer"
        )
    try:
        tensors = load_file(str(path))
    except Exception as error:  # safetensors raises its own error types for truncated files
        raise MlmkitError(f"{str(path)!r} cannot be read ({error}); rebuild it with `mlmkit stats {strategy}`") from None
    if tensors_sha256(tensors) != header.get("tensors_sha256"):
        raise MlmkitError(
            f"{str(path)!r}: its tensors differ from what was written (sha256 mismatch: the file is corrupted); "
            f"rebuild it with `mlmkit stats {strategy}`"
        )
    return Stats(tensors=tensors, header=header)
