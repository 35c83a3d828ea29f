"""What every figure shares: its resolution, where it is drawn (the caller's Axes or a
new Figure), short labels, and the error a figure without data raises.

Figures are built on :class:`matplotlib.figure.Figure`, never pyplot: no global state,
no GUI backend, so they draw the same in a report, a notebook or a headless test. Text
taken from the data is drawn with ``parse_math=False`` so that a ``$`` in an attribute
name cannot trigger (or break) mathtext.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase

from embaudit.errors import ConfigError

#: dots per inch of the figures this package makes itself (the report's resolution)
DPI = 90


class NoFigureError(ConfigError):
    """The figure asked for has nothing to draw in these data (e.g. survival curves of
    uncensored lifespans); the message says why."""


def own_axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    """``ax``, or the one Axes of a new constrained-layout Figure of ``size`` inches."""
    if ax is not None:
        return ax
    return Figure(figsize=size, dpi=DPI, layout="constrained").add_subplot()


def own_figure(fig: FigureBase | None, size: tuple[float, float]) -> FigureBase:
    """``fig`` (an empty Figure or SubFigure of the caller's), or a new constrained-layout
    Figure of ``size`` inches."""
    return fig if fig is not None else Figure(figsize=size, dpi=DPI, layout="constrained")


def panel_grid(fig: FigureBase, nrows: int, ncols: int, **options: Any) -> np.ndarray:
    """``nrows`` × ``ncols`` Axes on ``fig``, always as a 2-D array."""
    return fig.subplots(nrows, ncols, squeeze=False, **options)


def plain_tick_labels(ax: Axes, axis: str = "y") -> None:
    """Draw ``ax``'s tick labels on ``axis`` as text (they come from the data)."""
    labels = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    for label in labels:
        label.set_parse_math(False)


def short_label(text: str, width: int = 30) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def as_float(value: Any) -> float:
    """A table cell as a float (missing values as NaN)."""
    return float("nan") if value is None or pd.isna(value) else float(value)
