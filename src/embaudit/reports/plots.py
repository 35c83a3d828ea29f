"""The report's form of a figure: its PNG as a ``data:`` URI with the text that says
what it shows (the figures themselves are drawn by :mod:`embaudit.plots`)."""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["Plot", "png_uri"]


@dataclass(frozen=True)
class Plot:
    """One rendered figure: what it shows (for alt text) and its PNG as a data URI."""

    title: str
    uri: str
    kind: str = "figure"


def png_uri(figure: Figure) -> str:
    """Render ``figure`` to a base64 PNG ``data:`` URI (no metadata, so output is stable)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # a name in a script the font lacks is drawn as boxes
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        FigureCanvasAgg(figure).print_png(buffer, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
