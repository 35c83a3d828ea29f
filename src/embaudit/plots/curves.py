"""Training curves: the training and validation loss per epoch of a few members of
each regime, labelled with the loss the networks trained on."""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import FigureBase

from embaudit.plots.common import NoFigureError, own_axes, own_figure, panel_grid, short_label

#: resampled members of each kind drawn in the training-curve plot (besides the reference)
CURVES_PER_KIND = 2
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
_PALETTE = {"reference": "#24292f", "bootstrap": "#0969da", "permutation": "#cf222e"}


def trained_loss(loss: str, censored: bool) -> str:
    """The key in :data:`LOSS_LABELS` of the loss the networks trained with:
    ``training.loss`` with ``auto`` resolved (AFT with an event column, else MSE); AFT
    without an event column trains on the MSE, Cox always on the partial likelihood."""
    if loss == "cox":
        return "cox"
    if not censored:
        return "mse"
    return "mse_censored" if loss == "mse" else "aft"


def drawn_curves(curves: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """The curves drawn: each regime's first :data:`CURVES_PER_KIND` members of each kind
    (by member id), with their regime and kind; empty where there are none."""
    needed = {"member_id", "epoch", "train_loss"}
    if curves.empty or not needed <= set(curves.columns) or members.empty:
        return pd.DataFrame(columns=[*curves.columns, "regime", "kind"])
    info = members[["member_id", "regime", "kind"]].drop_duplicates("member_id")
    chosen = (info.sort_values("member_id").groupby(["regime", "kind"], sort=False)
              .head(CURVES_PER_KIND))
    return curves.merge(chosen, on="member_id")


def curves_panel(data: pd.DataFrame, regime: str, loss: str = "mse",
                 ax: Axes | None = None) -> Axes:
    """Training (solid) and validation (dashed) loss per epoch of the members of
    ``regime`` in ``data`` (:func:`drawn_curves`); ``loss`` (a key of
    :data:`LOSS_LABELS`) names the axis. Draws on ``ax`` (default: a new Figure) and
    returns it."""
    ax = own_axes(ax, (3.2, 2.5))
    for _, one in data[data["regime"] == regime].groupby("member_id", sort=True):
        label = str(one["kind"].iloc[0])
        colour = _PALETTE.get(label, "#8250df")
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
    return ax


def training_curves(curves: pd.DataFrame, members: pd.DataFrame, loss: str = "mse",
                    fig: FigureBase | None = None) -> FigureBase:
    """:func:`curves_panel` for every regime side by side, on ``fig`` (an empty Figure
    or SubFigure; default: a new Figure), which it returns."""
    data = drawn_curves(curves, members)
    regimes = list(dict.fromkeys(data["regime"]))
    if not regimes:
        raise NoFigureError("No training curves: the audit recorded no loss per epoch "
                                "of its members.")
    fig = own_figure(fig, (3.2 * len(regimes), 2.5))
    for ax, regime in zip(panel_grid(fig, 1, len(regimes)).ravel(), regimes, strict=True):
        curves_panel(data, regime, loss, ax)
    return fig
