"""Figures of the hypotheses: Person A vs Person B per regime, one hypothesis's trend,
the retrained null distributions, and the holdout forest plot."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import FigureBase

from embaudit.core.members import Split
from embaudit.data.table import Table
from embaudit.plots.common import (
    NoFigureError,
    as_float,
    own_axes,
    own_figure,
    panel_grid,
    plain_tick_labels,
    short_label,
)

N_BINS = 8
#: rows drawn at most as dots in a censored trend plot (a fixed sample beyond)
MAX_DOTS = 600
VERDICT_COLOURS = {"survives": "#1a7f37", "fails": "#cf222e", "inconclusive": "#9a6700"}
FOREST_LABEL = "holdout effect in the claimed direction (95% CI); x = discovered strength"


def ab_panel(regimes: pd.DataFrame, confidence: float = 0.95,
             ax: Axes | None = None) -> Axes:
    """Per embedding regime, the readings' mean holdout effect with its ``confidence``
    interval, and the chance readings' mean (the permutation networks') marked beside it.

    The legend sits right of the axes, so it never covers an interval. Draws on ``ax``
    (default: a new Figure) and returns it; :class:`NoFigureError` where no regime
    had networks to read (raw screening only).
    """
    regimes = regimes[regimes["reading_networks"].fillna(0).astype(int) > 0]
    if regimes.empty:
        raise NoFigureError("No Person A vs Person B panel: no regime has networks "
                                "whose readings were tested (raw screening only).")
    ax = own_axes(ax, (2.6 + 1.1 * len(regimes), 2.8))
    ax.axhline(0.0, color="#8c959f", linewidth=0.8)
    for i, row in enumerate(regimes.to_dict(orient="records")):
        effect, null = as_float(row["read_effect"]), as_float(row["null_effect"])
        low, high = as_float(row["read_effect_low"]), as_float(row["read_effect_high"])
        if math.isfinite(effect) and math.isfinite(low) and math.isfinite(high):
            ax.errorbar(i, effect, yerr=[[effect - low], [high - effect]], fmt="o",
                        color="#0969da", capsize=4,
                        label=f"readings ({confidence:.0%} CI)" if i == 0 else None)
            ax.annotate(f"{row['n_read_replicated']}/{row['n_read']}", (i, effect),
                        xytext=(6, 0), textcoords="offset points", fontsize=7, va="center")
        if math.isfinite(null):
            ax.plot(i, null, marker="_", markersize=22, mew=2.5, color="#cf222e",
                    label="chance readings" if i == 0 else None)
    ax.set_xticks(np.arange(len(regimes)),
                  [short_label(str(r), 14) for r in regimes["regime"]], fontsize=8)
    ax.set_xlim(-0.6, len(regimes) - 0.4)
    ax.set_ylabel("mean holdout effect of readings", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
              frameon=False)
    ax.set_title("Person A vs Person B", fontsize=9)
    return ax


def trend_plot(table: Table, split: Split, row: Mapping[str, Any],
               embedding: np.ndarray | None = None, ax: Axes | None = None) -> Axes:
    """The trend of hypothesis ``row`` (its attribute, regime, axis and direction):
    discovery rows solid, holdout rows dashed. Draws on ``ax`` (default: a new Figure)
    and returns it.

    With ``embedding`` (the regime's reference, rows × axes) and an axis: mean
    standardized attribute and lifespan per quantile bin of the axis (bins from the
    discovery rows). Raw screening (no axis, or no embedding): mean standardized lifespan
    per quantile bin of the attribute. With an event column, every row's lifespan is
    drawn too, filled where the item failed and open where it was censored (still in
    service: its lifespan is a lower bound).
    """
    attribute, regime = str(row["attribute"]), str(row["regime"])
    values = {c.name: c.values for c in table.attribute_columns}[attribute].astype(float)
    axis = None if pd.isna(row["axis"]) else int(row["axis"])
    along_axis = axis is not None and embedding is not None and axis < embedding.shape[1]
    events = table.events
    owned = ax is None
    ax = own_axes(ax, (3.6, 3.1 if events is not None else 2.5))
    lifespan = _standardize(table.y, split.discovery)
    if along_axis:
        x = np.asarray(embedding[:, axis], dtype=float)
        series = {"attribute": (_standardize(values, split.discovery), "#0969da"),
                  "lifespan": (lifespan, "#bc4c00")}
        xlabel = f"axis {axis} (quantile bins)"
    else:
        x = values
        series = {"lifespan": (lifespan, "#bc4c00")}
        xlabel = "attribute (quantile bins)"
    bins, centres = _quantile_bins(x, split.discovery)
    if events is not None:
        _row_dots(ax, x, lifespan, events, "#bc4c00")
    for part, rows, style in (("discovery", split.discovery, "-"),
                              ("holdout", split.holdout, "--")):
        for name, (z, colour) in series.items():
            means = pd.Series(z[rows]).groupby(bins[rows]).mean()
            ax.plot(centres[means.index], means.to_numpy(), style, marker="o", markersize=3,
                    color=colour, label=f"{name}, {part}")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel("mean (standardized)", fontsize=8)
    ax.tick_params(labelsize=7)
    if events is not None and owned:  # six entries: below the axes, off the dots
        ax.figure.legend(fontsize=6, frameon=False, ncols=2, loc="outside lower center")
    else:
        ax.legend(fontsize=6, frameon=False)
    name = short_label(regime, 14)
    title = f"{short_label(attribute)} ({row['direction']}) · " + (
        f"{name} axis {axis}" if along_axis else f"{name}, no axis")
    ax.set_title(title, fontsize=8, parse_math=False)
    return ax


def null_panel(row: Mapping[str, Any], strengths: np.ndarray,
               ax: Axes | None = None) -> Axes:
    """One hypothesis ``row``'s strengths on networks retrained on permuted lifespans
    (``strengths``), its observed strength in red and its p_retrained in the title.
    Draws on ``ax`` (default: a new Figure) and returns it."""
    ax = own_axes(ax, (2.3, 1.8))
    strengths = np.asarray(strengths, dtype=float)
    strengths = strengths[np.isfinite(strengths)]
    if strengths.size:
        ax.hist(strengths, bins=20, color="#8c959f")
    ax.axvline(as_float(row["strength"]), color="#cf222e", lw=1.5)
    ax.set_title(f"{short_label(str(row['attribute']), 22)}\np = "
                 f"{as_float(row['p_retrained']):.3g}", fontsize=7, parse_math=False)
    ax.tick_params(labelsize=6)
    ax.set_yticks([])
    return ax


def null_strengths_of(null_strengths: pd.DataFrame, regime: str) -> dict[str, np.ndarray]:
    """Per attribute, the retrained null strengths of ``regime``."""
    null = null_strengths[null_strengths["regime"] == regime]
    return {str(a): s.to_numpy(dtype=float)
            for a, s in null.groupby("attribute", sort=False)["strength"]}


def null_distributions(hypotheses: pd.DataFrame, null_strengths: pd.DataFrame,
                       regime: str, fig: FigureBase | None = None) -> FigureBase:
    """:func:`null_panel` for every hypothesis of ``regime``, four to a row, on ``fig``
    (an empty Figure or SubFigure; default: a new Figure), which it returns."""
    rows = hypotheses[hypotheses["regime"] == regime].to_dict(orient="records")
    if not rows or null_strengths.empty:
        raise NoFigureError(f"No null distributions of the {regime!r} regime: "
                                + ("it has no hypotheses." if not rows else
                                   "no network was retrained on permuted lifespans."))
    by_attribute = null_strengths_of(null_strengths, regime)
    ncols = min(4, len(rows))
    nrows = math.ceil(len(rows) / ncols)
    fig = own_figure(fig, (2.3 * ncols, 1.8 * nrows))
    axes = panel_grid(fig, nrows, ncols).ravel()
    for ax, row in zip(axes, rows, strict=False):
        null_panel(row, by_attribute.get(str(row["attribute"]), np.zeros(0)), ax)
    for ax in axes[len(rows):]:
        ax.set_axis_off()
    fig.suptitle(f"Strengths on networks retrained on permuted lifespans, {regime} "
                 "regime (red: the reference's; p: p_retrained)",
                 fontsize=8, parse_math=False)
    return fig


def forest_panel(part: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """The hypotheses of one regime (``part``): holdout effect with its interval,
    coloured by verdict, beside the discovered strength (x). Draws on ``ax`` (default:
    a new Figure) and returns it."""
    part = part.reset_index(drop=True)
    ax = own_axes(ax, (4.4, 0.8 + 0.22 * len(part)))
    y = np.arange(len(part))[::-1]
    colours = [VERDICT_COLOURS.get(str(v), "grey") for v in part["verdict"]]
    effect = part["effect_holdout"].astype(float).to_numpy()
    ax.hlines(y, part["ci_low"].astype(float), part["ci_high"].astype(float),
              colors=colours, lw=1.2)
    ax.scatter(effect, y, c=colours, s=12, zorder=3)
    ax.scatter(part["strength"].astype(float), y, marker="x", color="black", s=14,
               zorder=3)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_yticks(y, [short_label(str(a), 18) for a in part["attribute"]], fontsize=6)
    plain_tick_labels(ax)
    ax.tick_params(axis="x", labelsize=6)
    ax.set_xlabel(FOREST_LABEL, fontsize=7)
    if len(part):
        ax.set_title(short_label(str(part["regime"].iloc[0]), 16), fontsize=8,
                     parse_math=False)
    return ax


def holdout_forest(hypotheses: pd.DataFrame, fig: FigureBase | None = None) -> FigureBase:
    """:func:`forest_panel` for every regime side by side, on ``fig`` (an empty Figure or
    SubFigure; default: a new Figure), which it returns."""
    regimes = list(dict.fromkeys(hypotheses["regime"]))
    if not regimes:
        raise NoFigureError("No holdout forest plot: the audit has no hypotheses.")
    q = max(int((hypotheses["regime"] == r).sum()) for r in regimes)
    fig = own_figure(fig, (2.0 + 2.4 * len(regimes), 0.8 + 0.22 * q))
    for ax, regime in zip(panel_grid(fig, 1, len(regimes)).ravel(), regimes, strict=True):
        forest_panel(hypotheses[hypotheses["regime"] == regime], ax).set_xlabel("")
    fig.supxlabel(FOREST_LABEL, fontsize=7)
    return fig


def _row_dots(ax: Axes, x: np.ndarray, lifespan: np.ndarray, events: np.ndarray,
              colour: str) -> None:
    """Each row's standardized lifespan (at most :data:`MAX_DOTS`, a fixed sample):
    filled where the item failed, open where it is censored."""
    rows = np.arange(len(x))
    if len(rows) > MAX_DOTS:
        rows = np.sort(np.random.default_rng(0).choice(rows, MAX_DOTS, replace=False))
    failed = rows[events[rows] > 0]
    censored = rows[events[rows] <= 0]
    ax.scatter(x[failed], lifespan[failed], s=8, color=colour, alpha=0.45, lw=0,
               label="failed", zorder=1)
    ax.scatter(x[censored], lifespan[censored], s=9, facecolors="none", edgecolors=colour,
               alpha=0.5, lw=0.6, label="censored (still in service)", zorder=1)


def _quantile_bins(x: np.ndarray, discovery: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bin index of every row (edges: quantiles of the discovery rows) and bin centres."""
    edges = np.unique(np.quantile(x[discovery], np.linspace(0, 1, N_BINS + 1)[1:-1]))
    bins = np.searchsorted(edges, x, side="right")
    centres = pd.Series(x[discovery]).groupby(bins[discovery]).mean()
    fallback = pd.Series(x).groupby(bins).mean()
    return bins, centres.reindex(range(len(edges) + 1)).fillna(fallback).to_numpy()


def _standardize(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Centre and scale with the statistics of ``rows`` (the discovery rows)."""
    values = np.asarray(values, dtype=float)
    sd = values[rows].std()
    return (values - values[rows].mean()) / (sd if sd > 0 else 1.0)
