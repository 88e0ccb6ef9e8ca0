"""Output paths: checked before any work, and folders written all at once.

Every command checks its outputs first (a folder it may create, a file it may write) by really
creating a temporary entry there, so `--out /proc/x` or `--out some_file/x.png` fails in a second,
not after an hour of training. A folder is then written into a hidden sibling and renamed into place,
so a crash or a bad input never leaves half of it behind; leftovers of a killed run are removed by
the next run that writes the same folder.
"""

from __future__ import annotations

import glob
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
    _probe(parent, folder)
    return folder


def check_writable_folder(path: str | Path) -> Path:
    """Return `path` as a Path if it is, or can be created as, a folder we can write in (it may hold files).

    Raises:
        MlmkitError: the path or a folder on the way is a file, or nothing can be created there.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise MlmkitError(f"output {str(folder)!r} is a file, not a folder; choose a folder path for the output")
    _probe(_nearest_existing(folder), folder)
    return folder


def check_output_file(path: str | Path) -> Path:
    """Return `path` as a Path if a file can be written there (its folders are created on writing).

    Raises:
        MlmkitError: the path is a folder, a folder on the way is a file, or nothing can be written there.
    """
    file = Path(path)
    if file.is_dir():
        raise MlmkitError(f"output {str(file)!r} is a folder; give a file name (e.g. {str(file / 'out')!r} with an extension)")
    _probe(_nearest_existing(file.parent), file)
    return file


def _nearest_existing(path: Path) -> Path:
    """The closest folder on the way to `path` that exists (it is where creation starts)."""
    current = path.absolute()
    while not current.exists():
        current = current.parent
    if not current.is_dir():
        raise MlmkitError(f"cannot write {str(path)!r}: {str(current)!r} is a file, not a folder; choose another output path")
    return current


def _probe(folder: Path, target: Path) -> None:
    """Create and remove a hidden folder in `folder`: the one test of writability that root, read-only
    mounts and pseudo file systems (/proc) all answer truthfully."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".mlmkit-write-test-", dir=folder))
    except OSError as error:
        raise MlmkitError(
            f"cannot write {str(target)!r}: creating anything in {str(folder)!r} fails ({error.strerror or error}); "
            "choose an output path you can write to"
        ) from None


@contextmanager
def atomic_folder(out_dir: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `out_dir`; on success rename it to `out_dir`.

    The temporary folder sits in the same parent, so the final rename is atomic on one file
    system. On any exception it is deleted and `out_dir` is left as it was.
    """
    folder = check_output_folder(out_dir, overwrite)
    parent = folder.absolute().parent
    remove_leftovers(folder)
    temporary = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=parent))
    temporary.chmod(0o755)  # mkdtemp makes it private (0700); the result is an ordinary folder
    try:
        yield temporary
        _replace_folder(temporary, folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def remove_leftovers(out_dir: str | Path) -> list[Path]:
    """Delete the hidden `.NAME.partial-*` / `.NAME.old-*` siblings that a killed write of `out_dir`
    left behind; returns what was removed."""
    folder = Path(out_dir).absolute()
    if not folder.parent.is_dir():
        return []
    name = glob.escape(folder.name)
    stale = [*folder.parent.glob(f".{name}.partial-*"), *folder.parent.glob(f".{name}.old-*")]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


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
