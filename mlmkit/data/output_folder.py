"""Write an output folder all at once: a crash or a bad input never leaves half of it behind."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlmkit.errors import MlmkitError


def check_output_folder(out_dir: str | Path, overwrite: bool = False) -> Path:
    """Return `out_dir` as a Path if we may write it, else raise MlmkitError saying why not.

    A missing or empty folder is fine; a non-empty one only with `overwrite`; a file never.
    """
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise MlmkitError(f"output {str(folder)!r} is a file, not a folder; choose a folder path for the output")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise MlmkitError(
            f"output folder {str(folder)!r} already exists and is not empty; "
            "choose another folder or pass --overwrite (overwrite=True) to replace it"
        )
    parent = folder.absolute().parent
    if not parent.is_dir():
        raise MlmkitError(f"cannot create {str(folder)!r}: its parent folder {str(parent)!r} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise MlmkitError(f"cannot write in {str(parent)!r} (permission denied); choose an output folder you can write to")
    return folder


@contextmanager
def atomic_folder(out_dir: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `out_dir`; on success rename it to `out_dir`.

    The temporary folder sits in the same parent, so the final rename is atomic on one file
    system. On any exception it is deleted and `out_dir` is left as it was.
    """
    folder = check_output_folder(out_dir, overwrite)
    parent = folder.absolute().parent
    temporary = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=parent))
    temporary.chmod(0o755)  # mkdtemp makes it private (0700); the result is an ordinary folder
    try:
        yield temporary
        _replace_folder(temporary, folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _replace_folder(source: Path, target: Path) -> None:
    if target.is_dir() and any(target.iterdir()):
        retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.absolute().parent))
        os.replace(target, retired / target.name)
        os.replace(source, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        if target.is_dir():
            target.rmdir()
        os.replace(source, target)
