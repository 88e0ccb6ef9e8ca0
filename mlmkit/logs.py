"""Where messages go: mlmkit's own lines to the terminal, library chatter to a run's log file.

transformers prints a load report (tables of MISSING / UNEXPECTED keys) for every checkpoint it loads
into another head, accelerate warns "Removed shared tensor" for every checkpoint of a model with tied
embeddings, and datasets draws a progress bar for every `map`. All of it is expected; on the terminal it
hides the progress bars and results a user runs a command for. `library_output_to(file)` sends it to
a log file instead, and mlmkit's own informational lines go through the `mlmkit` logger, which the
commands show on the terminal (`show_mlmkit_messages`) or send to the same file.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger("mlmkit")

# Python loggers of the libraries whose records go to the log file.
LIBRARY_LOGGERS = ("transformers", "datasets", "accelerate", "huggingface_hub", "torch", "py.warnings")


_TERMINAL_STYLE = re.compile(r"\x1b\[[0-9;]*m")  # ANSI colour/bold codes (transformers' load reports carry them)


class _PlainFormatter(logging.Formatter):
    """Formats a record for a file: terminal colour codes removed, so the log reads in any editor."""

    def format(self, record: logging.LogRecord) -> str:
        return _TERMINAL_STYLE.sub("", super().format(record))


class _CurrentStderr(logging.StreamHandler):
    """Writes to `sys.stderr` as it is when a line is logged, not as it was when the handler was made
    (pytest's capture and `contextlib.redirect_stderr` replace it; the old one may be closed by then),
    through `tqdm.write`, so a line logged while a progress bar runs appears above the bar, not inside it."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging's contract: a handler never raises
            self.handleError(record)


class _LazyFileHandler(logging.FileHandler):
    """A log file (and its folder) made at the first record, not before: a run that stops on bad input
    leaves no folder behind."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8", delay=True)

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def show_mlmkit_messages(stream=None) -> None:
    """Print the `mlmkit` logger's INFO lines (resolved configs, evaluation results) to `stream` (stderr)."""
    if not any(getattr(handler, "mlmkit_terminal", False) for handler in logger.handlers):
        handler = logging.StreamHandler(stream) if stream is not None else _CurrentStderr()
        handler.mlmkit_terminal = True
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


@contextlib.contextmanager
def library_output_to(log_file: str | Path, mlmkit_messages: bool = True) -> Iterator[Path]:
    """Send library log records and Python warnings to `log_file`, and hide the libraries' progress bars, meanwhile.

    Args:
        log_file: appended to; it and its folder are created at the first message.
        mlmkit_messages: also send the `mlmkit` logger's lines there instead of the terminal.

    Yields:
        The log file's path.
    """
    import datasets
    import transformers

    path = Path(log_file)
    handler = _LazyFileHandler(path)
    handler.setFormatter(_PlainFormatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    names = LIBRARY_LOGGERS + (("mlmkit",) if mlmkit_messages else ())
    # transformers and datasets add their own terminal handler the first time they log; let them do it
    # now, so that replacing the handlers below is not undone later.
    transformers.utils.logging.get_verbosity()
    datasets.utils.logging.get_verbosity()
    saved = {name: (logging.getLogger(name).propagate, list(logging.getLogger(name).handlers)) for name in names}
    bars = datasets.is_progress_bar_enabled(), transformers.utils.logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()  # "Loading weights", "Writing model shards"
    for name in names:
        library = logging.getLogger(name)
        library.handlers = [handler]
        library.propagate = False
    if mlmkit_messages:
        logger.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            logging.captureWarnings(True)
            yield path
    finally:
        logging.captureWarnings(False)
        for name, (propagate, handlers) in saved.items():
            logging.getLogger(name).handlers, logging.getLogger(name).propagate = handlers, propagate
        if bars[0]:
            datasets.enable_progress_bars()
        if bars[1]:
            transformers.utils.logging.enable_progress_bar()
        handler.close()
