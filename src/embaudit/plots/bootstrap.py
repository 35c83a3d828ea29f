"""Figures of what the bootstrap networks say about each trend: the intervals of
r(axis, attribute) and r(axis, lifespan), how often each aligned axis is an
attribute's best, and how well each network aligned to the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import FigureBase

from embaudit.plots.common import (
    NoFigureError,
    own_axes,
    own_figure,
    panel_grid,
    plain_tick_labels,
    short_label,
)

#: alignment-quality columns drawn, with their axis labels
QUALITY = {"disparity": "Procrustes disparity", "protest_p": "PROTEST p",
           "cka": "linear CKA"}
#: the correlations of the axis forest plot, with their colours
AXIS_CORRELATIONS = {"attribute": "#0969da", "lifespan": "#bc4c00"}


def axis_forest_rows(hypotheses: pd.DataFrame, regime: str) -> pd.DataFrame:
    """The found hypotheses of ``regime`` read off an axis (the rows the axis forest
    plot draws)."""
    part = hypotheses[(hypotheses["regime"] == regime) & hypotheses["found"].astype(bool)]
    part = part.dropna(subset=["r_axis_attribute"]).reset_index(drop=True)
    if part.empty:
        raise NoFigureError(f"No bootstrap forest plot of the {regime!r} regime: none "
                                "of its found hypotheses was read off an axis.")
    return part


def axis_forest_panel(part: pd.DataFrame, correlation: str = "attribute",
                      ax: Axes | None = None) -> Axes:
    """r(axis, ``correlation``) of each row of ``part`` (:func:`axis_forest_rows`; the
    correlation is ``attribute`` or ``lifespan``) on the discovery rows, with its
    interval across the aligned bootstrap networks. Draws on ``ax`` (default: a new
    Figure) and returns it."""
    ax = own_axes(ax, (3.4, 0.9 + 0.26 * len(part)))
    colour = AXIS_CORRELATIONS[correlation]
    y = np.arange(len(part))[::-1]
    value = part[f"r_axis_{correlation}"].astype(float).to_numpy()
    low = part[f"r_axis_{correlation}_ci_low"].astype(float).to_numpy()
    high = part[f"r_axis_{correlation}_ci_high"].astype(float).to_numpy()
    ax.hlines(y, low, high, color=colour, lw=1.2)
    ax.scatter(value, y, color=colour, s=12, zorder=3)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_title(f"r(axis, {correlation})", fontsize=8)
    ax.tick_params(labelsize=6)
    labels = [f"{short_label(str(a), 18)} · axis {int(x)}"
              for a, x in zip(part["attribute"], part["axis"], strict=True)]
    ax.set_yticks(y, labels, fontsize=6)
    plain_tick_labels(ax)
    return ax


def axis_forest(hypotheses: pd.DataFrame, regime: str,
                fig: FigureBase | None = None) -> FigureBase:
    """:func:`axis_forest_panel` of r(axis, attribute) beside r(axis, lifespan) for the
    found hypotheses of ``regime``, on ``fig`` (an empty Figure or SubFigure; default: a
    new Figure), which it returns."""
    part = axis_forest_rows(hypotheses, regime)
    fig = own_figure(fig, (6.4, 0.9 + 0.26 * len(part)))
    axes = panel_grid(fig, 1, 2, sharey=True).ravel()
    for ax, correlation in zip(axes, AXIS_CORRELATIONS, strict=True):
        axis_forest_panel(part, correlation, ax)
    fig.suptitle(f"Found trends of the {regime} regime: discovery rows (dot) and the "
                 "interval across bootstrap networks", fontsize=8, parse_math=False)
    return fig


def stability_heatmap(stability: pd.DataFrame, regime: str,
                      ax: Axes | None = None) -> Axes:
    """Attribute × aligned axis: the share of bootstrap networks whose best axis for the
    attribute is that axis (a stable trend has one dark cell in its row), with a colour
    bar beside ``ax``. Draws on ``ax`` (default: a new Figure) and returns it."""
    part = stability[stability["regime"] == regime]
    if part.empty:
        raise NoFigureError(f"No stability heat map of the {regime!r} regime: no "
                                "bootstrap network was aligned to its reference.")
    grid = part.pivot_table(index="attribute", columns="axis", values="share", sort=False)
    ax = own_axes(ax, (1.6 + 0.28 * grid.shape[1], 0.9 + 0.22 * grid.shape[0]))
    image = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="Blues", vmin=0,
                      vmax=1)
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns], fontsize=6)
    ax.set_yticks(range(grid.shape[0]), [short_label(str(a), 22) for a in grid.index],
                  fontsize=6)
    plain_tick_labels(ax)
    ax.set_xlabel("aligned axis", fontsize=7)
    ax.figure.colorbar(image, ax=ax, label="share of bootstrap networks")
    ax.set_title(f"Axis stability, {regime} regime", fontsize=8, parse_math=False)
    return ax


def aligned_members(members: pd.DataFrame) -> pd.DataFrame:
    """The members aligned to their reference (those with a disparity)."""
    if members.empty or "disparity" not in members.columns:
        raise NoFigureError("No alignment quality: no bootstrap network was aligned "
                                "to its reference.")
    part = members.dropna(subset=["disparity"])
    if part.empty:
        raise NoFigureError("No alignment quality: no bootstrap network was aligned "
                                "to its reference.")
    return part


def alignment_panel(part: pd.DataFrame, measure: str = "disparity", ax: Axes | None = None,
                    rng: np.random.Generator | None = None) -> Axes:
    """Per regime, one dot per aligned member of ``part`` (:func:`aligned_members`): its
    ``measure`` (a key of :data:`QUALITY`), jittered vertically by ``rng`` (default:
    seeded). Draws on ``ax`` (default: a new Figure) and returns it."""
    regimes = list(dict.fromkeys(part["regime"]))
    ax = own_axes(ax, (2.4, 0.8 + 0.3 * len(regimes)))
    rng = np.random.default_rng(0) if rng is None else rng  # jitter only
    for i, regime in enumerate(regimes):
        values = part.loc[part["regime"] == regime, measure].astype(float).to_numpy()
        ax.scatter(values, i + rng.uniform(-0.15, 0.15, len(values)), s=6,
                   color="#0969da", alpha=0.6)
    ax.set_xlabel(QUALITY[measure], fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_yticks(range(len(regimes)), [short_label(str(r), 16) for r in regimes],
                  fontsize=6)
    ax.yaxis.set_inverted(True)  # the first regime on top
    return ax


def alignment_quality(members: pd.DataFrame, fig: FigureBase | None = None) -> FigureBase:
    """Per regime, each bootstrap network's alignment to the reference: disparity,
    PROTEST p and linear CKA (:func:`alignment_panel` each), on ``fig`` (an empty Figure
    or SubFigure; default: a new Figure), which it returns."""
    part = aligned_members(members)
    fig = own_figure(fig, (7.2, 0.8 + 0.3 * part["regime"].nunique()))
    axes = panel_grid(fig, 1, len(QUALITY), sharey=True).ravel()
    rng = np.random.default_rng(0)
    for ax, measure in zip(axes, QUALITY, strict=True):
        alignment_panel(part, measure, ax, rng)
    fig.suptitle("Alignment of each bootstrap network to its reference", fontsize=8)
    return fig
