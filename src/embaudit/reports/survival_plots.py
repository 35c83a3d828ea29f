"""Kaplan–Meier survival curves of censored lifespans by attribute group, discovery rows
beside holdout rows.

With censoring, mean lifespans per bin (the trend plots) treat a censored time as if
the item had failed then; the product-limit estimate does not, so these curves show
whether an attribute separates lifespans, and whether that separation holds on the
holdout rows too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from statsmodels.duration.survfunc import SurvfuncRight

from embaudit.data.table import AttributeColumn, Table
from embaudit.reports.json_report import sealed_rows
from embaudit.reports.plots import DPI, Plot, png_uri, short_label
from embaudit.results import AuditResult

#: attributes drawn at most, one row of two panels each, so the report stays small
MAX_SURVIVAL = 6
#: censored lifespans ticked per curve at most (evenly spaced in their order beyond)
MAX_TICKS = 200
_COLOURS = ("#0969da", "#8250df", "#bc4c00")


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


def chosen_attributes(result: AuditResult) -> tuple[dict[str, str], int]:
    """Attribute columns to draw (at most :data:`MAX_SURVIVAL`), each with the claimed
    direction of its first-ranked hypothesis, and how many were eligible.

    Eligible: attributes of hypotheses whose holdout numbers the report may show (a
    sealed report shows none for hypotheses the audit did not test there). Order:
    surviving first, then found or read off an axis, then by holdout q.
    """
    h = result.hypotheses[~sealed_rows(result).to_numpy()]
    if h.empty:
        return {}, 0
    tested = h["found"].fillna(False).astype(bool) | h["read"].fillna(False).astype(bool)
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


def survival_plot(result: AuditResult) -> Plot | None:
    """Kaplan–Meier curves per attribute group, discovery rows left and holdout rows
    right (one y axis), for the attributes :func:`chosen_attributes` picks; ``None``
    without an event column or without any attribute to draw."""
    table, split = result.table, result.split
    events = table.events
    if events is None:
        return None
    columns = {c.name: c for c in table.attribute_columns}
    direction, eligible = chosen_attributes(result)
    names = [n for n in direction if n in columns]
    if not names:
        return None
    time = np.asarray(table.lifespan, dtype=float)
    log_x = table.target_transform == "log" and bool((time > 0).all())
    start = float(time.min()) if log_x else 0.0
    figure = Figure(figsize=(8.0, 0.7 + 2.3 * len(names)), dpi=DPI, layout="constrained")
    axes = figure.subplots(len(names), 2, squeeze=False, sharex=True, sharey=True)
    for row_axes, name in zip(axes, names, strict=True):
        groups, labels = attribute_groups(table, columns[name], split.discovery)
        for ax, part, rows in zip(row_axes, ("discovery", "holdout"),
                                  (split.discovery, split.holdout), strict=True):
            for g, label in enumerate(labels):
                members = rows[groups[rows] == g]
                if members.size == 0:
                    continue
                n_censored = int((events[members] <= 0).sum())
                _draw_curve(ax, time[members], events[members], start,
                            _COLOURS[g % len(_COLOURS)],
                            f"{label}: {members.size} rows, {n_censored} censored")
            ax.set_title(f"{short_label(name, 30)} ({direction[name]}) · {part} "
                         "rows", fontsize=8, parse_math=False)
            ax.tick_params(labelsize=7, labelbottom=True)
            ax.grid(alpha=0.3, lw=0.5)
            legend = ax.legend(fontsize=6.5, frameon=False, loc="best")
            for text in legend.get_texts():
                text.set_parse_math(False)
    axes[0, 0].set_ylim(-0.02, 1.02)
    if log_x:
        axes[0, 0].set_xscale("log")
        axes[0, 0].xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    figure.supylabel("share still in service", fontsize=8)
    figure.supxlabel(f"lifespan ({short_label(table.target, 30)}"
                     + (", log scale)" if log_x else ")"), fontsize=8, parse_math=False)
    shown = (f"the {len(names)} attributes" if len(names) == eligible
             else f"the first {len(names)} of {eligible} attributes")
    return Plot(
        "Kaplan–Meier survival: the share of items still in service against lifespan, "
        "by attribute tertile (cut at the discovery rows' thirds) or level; discovery "
        "rows left, holdout rows right; ticks mark censored lifespans (at most "
        f"{MAX_TICKS} per curve). Drawn for {shown} whose holdout numbers the report "
        "shows: surviving hypotheses first, then those found or read off an axis, then "
        "by holdout q.",
        png_uri(figure), "survival")
