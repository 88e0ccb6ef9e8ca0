"""The one exception type for bad user input.

Library code raises `MlmkitError` (a `ValueError`) when a file, option or folder given by
the user is wrong; the message says what was wrong, with the value, and how to fix it.
The CLI prints such errors as one line and exits with status 2, without a traceback.
"""


import difflib
from typing import Iterable


class MlmkitError(ValueError):
    """A user-facing error: wrong input, with a message that says how to fix it."""


def did_you_mean(name: str, valid: Iterable[str], cutoff: float = 0.6) -> str:
    """`"; did you mean 'x'?"` for the valid name closest to `name`, or "" when none is close enough."""
    match = difflib.get_close_matches(name, list(valid), n=1, cutoff=cutoff)
    return f"; did you mean {match[0]!r}?" if match else ""
