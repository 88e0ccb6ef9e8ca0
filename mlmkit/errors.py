"""The one exception type for bad user input.

Library code raises `MlmkitError` (a `ValueError`) when a file, option or folder given by
the user is wrong; the message says what was wrong, with the value, and how to fix it.
The CLI prints such errors as one line and exits with status 2, without a traceback.
"""


class MlmkitError(ValueError):
    """A user-facing error: wrong input, with a message that says how to fix it."""
