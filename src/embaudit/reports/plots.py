"""The report's figures, as PNG ``data:`` URIs for a self-contained HTML page.

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas (no pyplot
state, works headless). Text taken from the data is drawn with ``parse_math=False`` so
that a ``$`` in an attribute name cannot trigger (or break) mathtext.
"""

from __future__ import annotations

import base64
import io
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from embaudit.results import AuditResult

DPI = 90
N_BINS = 8
#: resampled members of each kind drawn in the training-curve plot (besides the reference)
CURVES_PER_KIND = 2
#: rows drawn at most as dots in a censored trend plot (a fixed sample beyond)
MAX_DOTS = 600
#: per loss the networks trained with: the training curves' axis label, and what the
#: curves show (the epoch's training loss as the training callback records it)
LOSS_LABELS = {
    "mse": ("MSE", "mean squared error"),
    "mse_censored": ("MSE (censoring ignored)",
                     "mean squared error, censored lifespans counted as lifespans"),
    "aft": ("squared error (AFT training)",
            "networks trained on the log-normal AFT loss; the curves show its squared "
            "error, a censored row's only where the prediction falls short of its time"),
    "cox": ("Cox loss per failure",
            "networks trained on the Cox partial likelihood; the curves show minus its "
            "logarithm per failure"),
}
_VERDICT_COLOURS = {"survives": "#1a7f37", "fails": "#cf222e", "inconclusive": "#9a6700"}


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


def ab_panel(regimes: pd.DataFrame, confidence: float = 0.95) -> Plot | None:
    """Per embedding regime, the readings' mean holdout effect with its interval, and
    the chance readings' mean (the permutation networks') marked beside it."""
    regimes = regimes[regimes["reading_networks"].fillna(0).astype(int) > 0]
    if regimes.empty:
        return None
    figure = Figure(figsize=(2.6 + 1.1 * len(regimes), 2.8), dpi=DPI, layout="constrained")
    ax = figure.add_subplot()
    ax.axhline(0.0, color="#8c959f", linewidth=0.8)
    for i, row in enumerate(regimes.to_dict(orient="records")):
        effect, null = _float(row["read_effect"]), _float(row["null_effect"])
        low, high = _float(row["read_effect_low"]), _float(row["read_effect_high"])
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
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title("Person A vs Person B", fontsize=9)
    return Plot("Mean holdout effect of the readings per regime (replicated/read beside it) "
                "against chance readings off networks fitted to permuted lifespans",
                png_uri(figure), "ab")


def trend_plot(result: AuditResult, row: dict[str, Any]) -> Plot:
    """A hypothesis's trend, discovery rows solid, holdout rows dashed.

    Embedding regimes: mean standardized attribute and lifespan per quantile bin of the
    axis (bins from the discovery rows). Raw screening (no axis, or no stored
    embedding): mean standardized lifespan per quantile bin of the attribute. With an
    event column, every row's lifespan is drawn too, filled where the item failed and
    open where it was censored (still in service: its lifespan is a lower bound).
    """
    table, split = result.table, result.split
    attribute, regime = str(row["attribute"]), str(row["regime"])
    values = {c.name: c.values for c in table.attribute_columns}[attribute].astype(float)
    axis = None if pd.isna(row["axis"]) else int(row["axis"])
    embedding = result.embeddings.get(regime)
    along_axis = axis is not None and embedding is not None and axis < embedding.shape[1]
    censored = table.events is not None
    figure = Figure(figsize=(3.6, 3.1 if censored else 2.5), dpi=DPI, layout="constrained")
    ax = figure.add_subplot()
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
    if censored:
        _row_dots(ax, x, lifespan, table.events, "#bc4c00")
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
    if censored:  # six entries: below the axes, off the dots
        figure.legend(fontsize=6, frameon=False, ncols=2, loc="outside lower center")
    else:
        ax.legend(fontsize=6, frameon=False)
    where = f"axis {axis}" if along_axis else "raw"
    name = short_label(regime, 14)
    title = f"{short_label(attribute)} ({row['direction']}) · " + (
        f"{name} axis {axis}" if along_axis else f"{name}, no axis")
    ax.set_title(title, fontsize=8, parse_math=False)
    return Plot(f"Trend plot: {attribute} in regime {regime}, {where}", png_uri(figure),
                "trend")


def null_distributions(result: AuditResult, regime: str | None = None) -> Plot | None:
    """Per hypothesis of ``regime`` (default: the lead regime): its retrained null
    strengths and the observed one."""
    h, null = result.hypotheses, result.null_strengths
    regime = result.lead_regime if regime is None else regime
    rows = h[h["regime"] == regime].to_dict(orient="records")
    if not rows or null.empty:
        return None
    null = null[null["regime"] == regime]
    by_attribute = dict(tuple(null.groupby("attribute", sort=False)["strength"]))
    ncols = min(4, len(rows))
    nrows = math.ceil(len(rows) / ncols)
    figure = Figure(figsize=(2.3 * ncols, 1.8 * nrows), dpi=DPI, layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, row in zip(axes, rows, strict=False):
        strengths = by_attribute.get(row["attribute"], pd.Series(dtype=float)).to_numpy()
        strengths = strengths[np.isfinite(strengths)]
        if strengths.size:
            ax.hist(strengths, bins=20, color="#8c959f")
        ax.axvline(_float(row["strength"]), color="#cf222e", lw=1.5)
        ax.set_title(f"{short_label(str(row['attribute']), 22)}\np = "
                     f"{_float(row['p_retrained']):.3g}", fontsize=7, parse_math=False)
        ax.tick_params(labelsize=6)
        ax.set_yticks([])
    for ax in axes[len(rows):]:
        ax.set_axis_off()
    figure.suptitle(f"Strengths on networks retrained on permuted lifespans, {regime} "
                    "regime (red: the reference's; p: p_retrained)",
                    fontsize=8, parse_math=False)
    return Plot(f"Permutation null distributions of the {regime} regime", png_uri(figure),
                "null")


def holdout_forest(hypotheses: pd.DataFrame) -> Plot | None:
    """Holdout effect with 95% CI per hypothesis beside its discovered strength."""
    regimes = list(dict.fromkeys(hypotheses["regime"]))
    if not regimes:
        return None
    q = max(int((hypotheses["regime"] == r).sum()) for r in regimes)
    figure = Figure(figsize=(2.0 + 2.4 * len(regimes), 0.8 + 0.22 * q), dpi=DPI,
                    layout="constrained")
    axes = figure.subplots(1, len(regimes), squeeze=False).ravel()
    for ax, regime in zip(axes, regimes, strict=True):
        part = hypotheses[hypotheses["regime"] == regime].reset_index(drop=True)
        y = np.arange(len(part))[::-1]
        colours = [_VERDICT_COLOURS.get(str(v), "grey") for v in part["verdict"]]
        effect = part["effect_holdout"].astype(float).to_numpy()
        ax.hlines(y, part["ci_low"].astype(float), part["ci_high"].astype(float),
                  colors=colours, lw=1.2)
        ax.scatter(effect, y, c=colours, s=12, zorder=3)
        ax.scatter(part["strength"].astype(float), y, marker="x", color="black", s=14,
                   zorder=3)
        ax.axvline(0, color="grey", lw=0.5)
        labels = [short_label(str(a), 18) for a in part["attribute"]]
        ax.set_yticks(y, labels, fontsize=6)
        for label in ax.get_yticklabels():
            label.set_parse_math(False)
        ax.tick_params(axis="x", labelsize=6)
        ax.set_title(short_label(str(regime), 16), fontsize=8, parse_math=False)
    figure.supxlabel("holdout effect in the claimed direction (95% CI); x = discovered "
                     "strength", fontsize=7)
    return Plot("Holdout effects with 95% intervals (green: survives, red: fails, amber: "
                "inconclusive) and discovered strengths (x)",
                png_uri(figure), "forest")


def trained_loss(loss: str, censored: bool) -> str:
    """The key in :data:`LOSS_LABELS` of the loss the networks trained with:
    ``training.loss`` with ``auto`` resolved (AFT with an event column, else MSE); AFT
    without an event column trains on the MSE, Cox always on the partial likelihood."""
    if loss == "cox":
        return "cox"
    if not censored:
        return "mse"
    return "mse_censored" if loss == "mse" else "aft"


def training_curves(curves: pd.DataFrame, members: pd.DataFrame,
                    loss: str = "mse") -> Plot | None:
    """Training (solid) and validation (dashed) loss per epoch, a few members per regime;
    ``loss`` (a key of :data:`LOSS_LABELS`) names the loss on the axis."""
    needed = {"member_id", "epoch", "train_loss"}
    if curves.empty or not needed <= set(curves.columns) or members.empty:
        return None
    info = members[["member_id", "regime", "kind"]].drop_duplicates("member_id")
    chosen = (info.sort_values("member_id").groupby(["regime", "kind"], sort=False)
              .head(CURVES_PER_KIND))
    data = curves.merge(chosen, on="member_id")
    regimes = list(dict.fromkeys(data["regime"]))
    if not regimes:
        return None
    figure = Figure(figsize=(3.2 * len(regimes), 2.5), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, len(regimes), squeeze=False).ravel()
    palette = {"reference": "#24292f", "bootstrap": "#0969da", "permutation": "#cf222e"}
    for ax, regime in zip(axes, regimes, strict=True):
        for _, one in data[data["regime"] == regime].groupby("member_id", sort=True):
            label = str(one["kind"].iloc[0])
            colour = palette.get(label, "#8250df")
            ax.plot(one["epoch"], one["train_loss"].astype(float).clip(lower=1e-8), "-",
                    color=colour, lw=1, label=short_label(label, 16))
            if "validation_loss" in one and one["validation_loss"].notna().any():
                ax.plot(one["epoch"], one["validation_loss"].astype(float).clip(lower=1e-8),
                        "--", color=colour, lw=1)
        if loss != "cox":  # squared errors fall towards 0 as a network overfits
            ax.set_yscale("log")
        ax.set_title(f"{short_label(str(regime), 20)} (dashed: validation)", fontsize=8,
                     parse_math=False)
        ax.set_xlabel("epoch", fontsize=7)
        ax.set_ylabel(LOSS_LABELS[loss][0], fontsize=7)
        ax.tick_params(which="both", labelsize=6)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), fontsize=6, frameon=False)
    return Plot(f"Training curves of a few members per regime ({LOSS_LABELS[loss][1]})",
                png_uri(figure), "curves")


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


def short_label(text: str, width: int = 30) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _float(value: Any) -> float:
    return float("nan") if value is None or pd.isna(value) else float(value)
