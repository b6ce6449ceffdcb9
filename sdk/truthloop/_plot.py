"""matplotlib, imported only when a command is asked to draw (the ``plot`` extra), on the file-only Agg backend."""

from __future__ import annotations

from typing import Any

from truthloop.exceptions import ConfigurationError

__all__ = ["pyplot"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend; :class:`ConfigurationError` saying what to install when absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigurationError("--plot needs matplotlib: pip install 'truthloop[plot]'") from exc
    return plt
