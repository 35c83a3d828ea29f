"""Figures of the loss landscape: sharpness against holdout loss, the disconnectivity
graphs, the map of minima, the loss along the straight and the Fourier path, and the
input features the minima conserve.

The per-group figures put one panel per (regime, optimizer) group side by side; each
panel function draws one group on an Axes of the caller's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import FigureBase
from scipy.cluster.hierarchy import dendrogram

from embaudit.plots.common import (
    NoFigureError,
    own_axes,
    own_figure,
    panel_grid,
    plain_tick_labels,
    short_label,
)

#: colours of the regimes and markers of the optimizers, in order of appearance
_COLOURS = ("#0969da", "#bc4c00", "#1a7f37", "#8250df", "#cf222e", "#9a6700", "#57606a")
_MARKERS = {"adam": "o", "sgd": "s", "lbfgs": "^"}
#: input features drawn in the relevance bars
TOP_FEATURES = 15
RELEVANCE_LABEL = "conserved share of the feature's first-layer weights"
#: what the two panels of the map of minima colour the points by
MAP_COLOURINGS = {"group": "by regime and optimizer", "seed": "by initialization seed"}

Group = tuple[str, str]  # (regime, optimizer)


def groups_of(frame: pd.DataFrame) -> list[Group]:
    """The (regime, optimizer) groups of ``frame``, in order of appearance."""
    return list(dict.fromkeys(zip(frame["regime"], frame["optimizer"], strict=True)))


def _name(group: Group) -> str:
    return f"{group[0]}, {group[1]}"


def _of(frame: pd.DataFrame, group: Group) -> pd.DataFrame:
    return frame[(frame["regime"] == group[0]) & (frame["optimizer"] == group[1])]


def _panels(fig: FigureBase | None, n: int, height: float) -> tuple[FigureBase, np.ndarray]:
    """``fig`` (default: a new Figure) with ``n`` panels side by side, one per group."""
    fig = own_figure(fig, (min(12.0, 2.6 * n) + 0.6, height))
    return fig, panel_grid(fig, 1, n).ravel()


def _style(members: pd.DataFrame) -> dict[Group, tuple[str, str]]:
    regimes = list(dict.fromkeys(members["regime"]))
    return {(r, o): (_COLOURS[regimes.index(r) % len(_COLOURS)], _MARKERS.get(o, "D"))
            for r, o in groups_of(members)}


def sharpness_plot(members: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Canonical λ_max against holdout loss, one point per minimum. Draws on ``ax``
    (default: a new Figure) and returns it."""
    ax = own_axes(ax, (4.6, 3.0))
    for group, (colour, marker) in _style(members).items():
        part = _of(members, group)
        ax.scatter(part["lambda_max_canonical"], part["holdout_loss"], color=colour,
                   marker=marker, s=18, label=short_label(_name(group), 24))
    ax.set_xscale("log")
    ax.set_xlabel("sharpness: canonical λ_max", fontsize=8)
    ax.set_ylabel("holdout loss (share of variance)", fontsize=8)
    ax.tick_params(which="both", labelsize=7)
    ax.legend(fontsize=6, frameon=False)
    ax.set_title("Sharpness and generalization of each minimum", fontsize=9)
    return ax


def dendrogram_panel(linkage: pd.DataFrame, members: pd.DataFrame, group: Group,
                     ax: Axes | None = None) -> Axes:
    """The disconnectivity graph of ``group``'s minima (merges at absolute saddle
    heights). Draws on ``ax`` (default: a new Figure) and returns it."""
    ax = own_axes(ax, (3.2, 2.6))
    merges = _of(linkage, group)
    part = _of(members, group)
    part = part[part["basin"].notna()]  # the points the geometry measured
    if len(merges) and len(merges) != len(part) - 1:  # paths never joined them all
        ax.text(0.5, 0.5, "not every minimum\njoined by a measured path",
                ha="center", va="center", fontsize=7, transform=ax.transAxes)
    elif len(merges):
        matrix = merges.sort_values("step")[["left", "right", "height", "size"]]
        labels = [("ref" if kind == "reference" else str(i))
                  for i, kind in enumerate(part["kind"])]
        with warnings.catch_warnings():  # all barriers 0: scipy's own ylim warns
            warnings.simplefilter("ignore", UserWarning)
            dendrogram(matrix.to_numpy(dtype=float), ax=ax, labels=labels,
                       color_threshold=0, above_threshold_color="#57606a")
        low, high = float(part["train_loss"].min()), float(matrix["height"].max())
        ax.set_ylim(low, high + max(0.05 * (high - low), 1e-4))
    ax.set_title(short_label(_name(group), 26), fontsize=8, parse_math=False)
    ax.tick_params(labelsize=6)
    ax.set_ylabel("loss (share of variance)", fontsize=7)
    return ax


def dendrogram_plot(linkage: pd.DataFrame, members: pd.DataFrame,
                    fig: FigureBase | None = None) -> FigureBase:
    """:func:`dendrogram_panel` of every group with minima, on ``fig`` (an empty Figure
    or SubFigure; default: a new Figure), which it returns."""
    if linkage.empty:
        raise NoFigureError("No disconnectivity graphs: no group has minima joined by "
                            "measured paths.")
    groups = groups_of(linkage)
    fig, axes = _panels(fig, len(groups), 2.6)
    for i, (ax, group) in enumerate(zip(axes, groups, strict=True)):
        dendrogram_panel(linkage, members, group, ax)
        if i:
            ax.set_ylabel("")
    return fig


def minima_panel(members: pd.DataFrame, colour_by: str = "group",
                 ax: Axes | None = None) -> Axes:
    """Kernel-PCA coordinates of the points, coloured by regime and optimizer
    (``colour_by="group"``) or by initialization seed (``"seed"``). Draws on ``ax``
    (default: a new Figure) and returns it."""
    ax = own_axes(ax, (4.1, 3.0))
    if colour_by == "group":
        for group, (colour, marker) in _style(members).items():
            part = _of(members, group)
            ax.scatter(part["map_1"], part["map_2"], color=colour, marker=marker, s=18,
                       label=short_label(_name(group), 24))
        ax.legend(fontsize=6, frameon=False)
    else:
        seeds = pd.factorize(members["sample_seed"])[0] if "sample_seed" in members else \
            np.zeros(len(members), dtype=int)
        ax.scatter(members["map_1"], members["map_2"], c=seeds % 10, cmap="tab10",
                   vmin=0, vmax=9, s=18)
    ax.set_title(f"Map of minima (kernel PCA), {MAP_COLOURINGS[colour_by]}", fontsize=8)
    ax.tick_params(labelsize=6)
    return ax


def minima_map(members: pd.DataFrame, fig: FigureBase | None = None) -> FigureBase:
    """:func:`minima_panel` by group beside by seed, on ``fig`` (an empty Figure or
    SubFigure; default: a new Figure), which it returns."""
    fig = own_figure(fig, (8.2, 3.0))
    for ax, colour_by in zip(panel_grid(fig, 1, 2).ravel(), MAP_COLOURINGS, strict=True):
        minima_panel(members, colour_by, ax)
    return fig


def path_panel(paths: pd.DataFrame, group: Group, ax: Axes | None = None) -> Axes:
    """The loss along the straight line and the fitted Fourier path of ``group``'s shown
    pair. Draws on ``ax`` (default: a new Figure) and returns it."""
    ax = own_axes(ax, (3.2, 2.4))
    part = _of(paths, group)
    for name, style in (("straight", "--"), ("fourier", "-")):
        one = part[part["path"] == name]
        ax.plot(one["t"], one["loss"], style, color="#24292f", lw=1, label=name)
    ax.set_title(short_label(_name(group), 26), fontsize=8, parse_math=False)
    ax.set_xlabel("t", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6, frameon=False)
    ax.set_ylabel("loss on the group's training rows", fontsize=7)
    return ax


def path_plot(paths: pd.DataFrame, fig: FigureBase | None = None) -> FigureBase:
    """:func:`path_panel` of one pair per group (its spanning tree's highest barrier),
    on ``fig`` (an empty Figure or SubFigure; default: a new Figure), which it returns."""
    if paths.empty:
        raise NoFigureError("No loss paths: no pair of minima was joined by a path.")
    groups = groups_of(paths)
    fig, axes = _panels(fig, len(groups), 2.4)
    for i, (ax, group) in enumerate(zip(axes, groups, strict=True)):
        path_panel(paths, group, ax)
        if i:
            ax.set_ylabel("")
    return fig


def conserved_features(features: pd.DataFrame) -> pd.DataFrame:
    """The relevance rows of all of each group's minima (the ones the figure draws)."""
    sets = features[features["minima"] == "all"] if "minima" in features else features
    if sets.empty:
        raise NoFigureError("No conserved features: no group's minima were compared.")
    return sets


def relevance_panel(sets: pd.DataFrame, group: Group, ax: Axes | None = None) -> Axes:
    """The :data:`TOP_FEATURES` input features ``group``'s minima conserve most (rows of
    :func:`conserved_features`). Draws on ``ax`` (default: a new Figure) and returns
    it."""
    ax = own_axes(ax, (3.2, 3.2))
    part = _of(sets, group)
    top = part.nlargest(TOP_FEATURES, "relevance")[::-1]
    y = np.arange(len(top))
    ax.barh(y, top["relevance"], color="#0969da")
    ax.set_yticks(y, [short_label(str(f), 14) for f in top["feature"]], fontsize=6)
    plain_tick_labels(ax)
    agreement = float(part["agreement"].iloc[0]) if len(part) else float("nan")
    ax.set_title(short_label(_name(group), 26) +
                 f"\nρ with permutation importance {agreement:.2f}", fontsize=7,
                 parse_math=False)
    ax.tick_params(axis="x", labelsize=6)
    ax.set_xlabel(RELEVANCE_LABEL, fontsize=7)
    return ax


def relevance_plot(features: pd.DataFrame, fig: FigureBase | None = None) -> FigureBase:
    """:func:`relevance_panel` of every group, on ``fig`` (an empty Figure or SubFigure;
    default: a new Figure), which it returns."""
    sets = conserved_features(features)
    groups = groups_of(sets)
    fig, axes = _panels(fig, len(groups), 3.2)
    for ax, group in zip(axes, groups, strict=True):
        relevance_panel(sets, group, ax).set_xlabel("")
    fig.supxlabel(RELEVANCE_LABEL, fontsize=7)
    return fig
