"""matplotlib for the commands that draw (`mlmkit plot`, `mlmkit compare`): an extra, `pip install 'mlmkit[plot]'`."""

from __future__ import annotations

from typing import Any

from mlmkit.errors import MlmkitError


def pyplot() -> Any:
    """`matplotlib.pyplot` on the Agg backend (no display needed).

    Raises:
        MlmkitError: matplotlib is not installed (one line naming the extra that brings it).
    """
    try:
        import matplotlib
    except ImportError:
        raise MlmkitError("drawing plots needs matplotlib, which mlmkit installs as an extra: pip install 'mlmkit[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
