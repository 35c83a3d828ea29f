"""Kaplan–Meier survival curves of censored lifespans by attribute group, discovery rows
beside holdout rows.

With censoring, mean lifespans per bin (the trend plots) treat a censored time as if
the item had failed then; the product-limit estimate does not, so these curves show
whether an attribute separates lifespans, and whether that separation holds on the
holdout rows too.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import FigureBase
from matplotlib.ticker import FuncFormatter
from statsmodels.duration.survfunc import SurvfuncRight

from embaudit.core.members import Split
from embaudit.data.table import AttributeColumn, Table
from embaudit.plots.common import NoFigureError, own_axes, own_figure, panel_grid, short_label

#: attributes drawn at most, one row of two panels each, so the report stays small
MAX_SURVIVAL = 6
#: censored lifespans ticked per curve at most (evenly spaced in their order beyond)
MAX_TICKS = 200
_COLOURS = ("#0969da", "#8250df", "#bc4c00")
SURVIVAL_LABEL = "share still in service"
UNCENSORED = ("No survival curves: the table has no event column, so no lifespan is "
               "censored (the trend plots show lifespans as they are).")


def kaplan_meier(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Product-limit estimate (statsmodels' ``SurvfuncRight``): the distinct failure
    times and the share still in service just after each; rows censored at a failure
    time count as at risk then."""
    failed = (np.asarray(event, dtype=float) > 0).astype(float)
    if not failed.any():
        return np.zeros(0), np.zeros(0)
    estimate = SurvfuncRight(np.asarray(time, dtype=float), failed)
    return np.asarray(estimate.surv_times), np.asarray(estimate.surv_prob)


def survival_at(times: np.ndarray, survival: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The step function of :func:`kaplan_meier` evaluated at ``at`` (1 before the first
    failure)."""
    index = np.searchsorted(times, np.asarray(at, dtype=float), side="right") - 1
    return np.where(index >= 0, survival[np.maximum(index, 0)] if survival.size else 1.0,
                    1.0)


def attribute_groups(table: Table, column: AttributeColumn,
                     discovery: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Each row's group (-1: attribute missing) and the groups' labels.

    Numeric attributes: tertiles, cut at the discovery rows' thirds (fewer groups where
    ties merge the cuts). Binary and categorical columns: the level against the rest.
    """
    values = np.asarray(column.values, dtype=float)
    known = np.isfinite(values)
    groups = np.full(len(values), -1)
    if column.kind == "numeric":
        seen = values[discovery][known[discovery]]
        edges = np.unique(np.quantile(seen, [1 / 3, 2 / 3])) if seen.size else np.zeros(0)
        groups[known] = np.searchsorted(edges, values[known], side="left")
        return groups, _tertile_labels(edges)
    if column.level is not None:  # an indicator: 1 = the level
        levels = sorted(table.frame[column.attribute].astype(str).unique())
        rest = levels[0] if column.kind == "binary" and len(levels) == 2 else "other levels"
        groups[known] = values[known] > 0
        return groups, [short_label(rest, 20), short_label(column.level, 20)]
    distinct = np.unique(values[known])  # a numeric column of two values
    groups[known] = np.searchsorted(distinct, values[known])
    return groups, [f"{short_label(column.name, 16)} = {v:.4g}" for v in distinct]


def _tertile_labels(edges: np.ndarray) -> list[str]:
    if edges.size == 0:
        return ["all rows"]
    if edges.size == 1:
        return [f"low (≤ {edges[0]:.3g})", f"high (> {edges[0]:.3g})"]
    low, high = edges
    return [f"low (≤ {low:.3g})", f"middle ({low:.3g} to {high:.3g})", f"high (> {high:.3g})"]


def chosen_attributes(hypotheses: pd.DataFrame,
                      sealed: bool = False) -> tuple[dict[str, str], int]:
    """Attribute columns to draw (at most :data:`MAX_SURVIVAL`), each with the claimed
    direction of its first-ranked hypothesis, and how many were eligible.

    Eligible: attributes of hypotheses whose holdout numbers the report may show (a
    ``sealed`` report shows none for hypotheses the audit neither found nor read). Order:
    surviving first, then found or read off an axis, then by holdout q.
    """
    h = hypotheses
    tested = h["found"].fillna(False).astype(bool) | h["read"].fillna(False).astype(bool)
    if sealed:
        h, tested = h[tested.to_numpy()], tested[tested.to_numpy()]
    if h.empty:
        return {}, 0
    ranked = pd.DataFrame({
        "attribute": h["attribute"].astype(str).to_numpy(),
        "direction": h["direction"].astype(str).to_numpy(),
        "survives": (h["verdict"] == "survives").to_numpy(dtype=bool),
        "tested": tested.to_numpy(dtype=bool),
        "q": pd.to_numeric(h["q_holdout"], errors="coerce").fillna(np.inf).to_numpy(),
    }).sort_values(["survives", "tested", "q"], ascending=[False, False, True],
                   kind="stable")
    first = ranked.drop_duplicates("attribute")
    return dict(zip(first["attribute"].head(MAX_SURVIVAL),
                    first["direction"].head(MAX_SURVIVAL), strict=True)), len(first)


def _draw_curve(ax: Axes, time: np.ndarray, event: np.ndarray, start: float,
                colour: str, label: str) -> None:
    """One group's step curve from ``start`` to its last lifespan, censored lifespans
    ticked on it."""
    times, survival = kaplan_meier(time, event)
    x = np.concatenate([[start], times, [time.max()]])
    y = np.concatenate([[1.0], survival, [survival[-1] if survival.size else 1.0]])
    ax.step(x, y, where="post", color=colour, lw=1.2, label=label)
    censored = np.sort(time[event <= 0])
    if censored.size > MAX_TICKS:  # denser ticks only smear the curve
        censored = censored[np.linspace(0, censored.size - 1, MAX_TICKS).astype(int)]
    if censored.size:
        ax.plot(censored, survival_at(times, survival, censored), "|", color=colour,
                markersize=4, mew=0.7, alpha=0.8)


def survival_panel(table: Table, split: Split, attribute: str, direction: str = "",
                   part: str = "holdout", ax: Axes | None = None) -> Axes:
    """Kaplan–Meier curves of the ``part`` rows (``discovery`` or ``holdout``) by group of
    ``attribute`` (:func:`attribute_groups`), censored lifespans ticked; ``direction``
    (the claimed one) goes in the title. Draws on ``ax`` (default: a new Figure) and
    returns it; :class:`NoFigureError` without an event column."""
    events = table.events
    if events is None:
        raise NoFigureError(UNCENSORED)
    column = {c.name: c for c in table.attribute_columns}[attribute]
    ax = own_axes(ax, (4.0, 3.0))
    time = np.asarray(table.lifespan, dtype=float)
    log_x = table.target_transform == "log" and bool((time > 0).all())
    start = float(time.min()) if log_x else 0.0
    groups, labels = attribute_groups(table, column, split.discovery)
    rows = split.discovery if part == "discovery" else split.holdout
    for g, label in enumerate(labels):
        members = rows[groups[rows] == g]
        if members.size == 0:
            continue
        n_censored = int((events[members] <= 0).sum())
        _draw_curve(ax, time[members], events[members], start, _COLOURS[g % len(_COLOURS)],
                    f"{label}: {members.size} rows, {n_censored} censored")
    ax.set_title(f"{short_label(attribute, 30)}{f' ({direction})' if direction else ''} · "
                 f"{part} rows", fontsize=8, parse_math=False)
    ax.tick_params(labelsize=7, labelbottom=True)
    ax.grid(alpha=0.3, lw=0.5)
    legend = ax.legend(fontsize=6.5, frameon=False, loc="best")
    for text in legend.get_texts():
        text.set_parse_math(False)
    ax.set_ylim(-0.02, 1.02)
    if log_x:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylabel(SURVIVAL_LABEL, fontsize=8)
    ax.set_xlabel(_lifespan_label(table, log_x), fontsize=8, parse_math=False)
    return ax


def survival_plot(table: Table, split: Split, attributes: Mapping[str, str],
                  fig: FigureBase | None = None) -> FigureBase:
    """:func:`survival_panel` of each of ``attributes`` (name -> claimed direction; see
    :func:`chosen_attributes`), discovery rows left and holdout rows right (one y axis),
    on ``fig`` (an empty Figure or SubFigure; default: a new Figure), which it returns;
    :class:`NoFigureError` without an event column or without any attribute."""
    if table.events is None:
        raise NoFigureError(UNCENSORED)
    columns = {c.name for c in table.attribute_columns}
    names = [n for n in attributes if n in columns]
    if not names:
        raise NoFigureError("No survival curves: no attribute's holdout numbers may be "
                                "shown (a sealed audit shows only those it found or read).")
    fig = own_figure(fig, (8.0, 0.7 + 2.3 * len(names)))
    axes = panel_grid(fig, len(names), 2, sharex=True, sharey=True)
    for row_axes, name in zip(axes, names, strict=True):
        for ax, part in zip(row_axes, ("discovery", "holdout"), strict=True):
            survival_panel(table, split, name, attributes[name], part, ax)
            ax.set_xlabel("")
            ax.set_ylabel("")
    time = np.asarray(table.lifespan, dtype=float)
    log_x = table.target_transform == "log" and bool((time > 0).all())
    fig.supylabel(SURVIVAL_LABEL, fontsize=8)
    fig.supxlabel(_lifespan_label(table, log_x), fontsize=8, parse_math=False)
    return fig


def _lifespan_label(table: Table, log_x: bool) -> str:
    return (f"lifespan ({short_label(table.target, 30)}"
            + (", log scale)" if log_x else ")"))
