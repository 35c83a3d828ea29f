"""Figures of the loss landscape: sharpness against holdout loss, the disconnectivity
graphs, the map of minima, the loss along the straight and the Fourier path, and the
input features the minima conserve."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.cluster.hierarchy import dendrogram

from embaudit.landscape import Landscape
from embaudit.reports.plots import DPI, Plot, png_uri, short_label

#: colours of the regimes and markers of the optimizers, in order of appearance
_COLOURS = ("#0969da", "#bc4c00", "#1a7f37", "#8250df", "#cf222e", "#9a6700", "#57606a")
_MARKERS = {"adam": "o", "sgd": "s", "lbfgs": "^"}
#: input features drawn in the relevance bars
TOP_FEATURES = 15


@dataclass(frozen=True)
class LandscapePlots:
    """Every landscape figure of the report."""

    sharpness: Plot
    dendrograms: Plot | None
    minima_map: Plot
    paths: Plot | None
    relevance: Plot | None


def landscape_plots(landscape: Landscape) -> LandscapePlots:
    """Draw all figures of ``landscape``."""
    return LandscapePlots(
        sharpness=sharpness_plot(landscape.members),
        dendrograms=dendrogram_plot(landscape.linkage, landscape.members),
        minima_map=minima_map(landscape.members),
        paths=path_plot(landscape.paths),
        relevance=relevance_plot(landscape.features),
    )


def _panels(n: int, height: float) -> tuple[Figure, np.ndarray]:
    """A figure of ``n`` panels side by side, one per group."""
    figure = Figure(figsize=(min(12.0, 2.6 * n) + 0.6, height), dpi=DPI, layout="constrained")
    return figure, figure.subplots(1, n, squeeze=False).ravel()


def _groups(members: pd.DataFrame) -> list[tuple[str, str]]:
    return list(dict.fromkeys(zip(members["regime"], members["optimizer"], strict=True)))


def _style(members: pd.DataFrame) -> dict[tuple[str, str], tuple[str, str]]:
    regimes = list(dict.fromkeys(members["regime"]))
    return {(r, o): (_COLOURS[regimes.index(r) % len(_COLOURS)], _MARKERS.get(o, "D"))
            for r, o in _groups(members)}


def sharpness_plot(members: pd.DataFrame) -> Plot:
    """Canonical λ_max against holdout loss, one point per minimum."""
    figure = Figure(figsize=(4.6, 3.0), dpi=DPI, layout="constrained")
    ax = figure.add_subplot()
    for (regime, optimizer), (colour, marker) in _style(members).items():
        part = members[(members["regime"] == regime) & (members["optimizer"] == optimizer)]
        ax.scatter(part["lambda_max_canonical"], part["holdout_loss"], color=colour,
                   marker=marker, s=18, label=short_label(f"{regime}, {optimizer}", 24))
    ax.set_xscale("log")
    ax.set_xlabel("sharpness: canonical λ_max", fontsize=8)
    ax.set_ylabel("holdout loss (share of variance)", fontsize=8)
    ax.tick_params(which="both", labelsize=7)
    ax.legend(fontsize=6, frameon=False)
    ax.set_title("Sharpness and generalization of each minimum", fontsize=9)
    return Plot("Canonical sharpness against holdout loss per minimum", png_uri(figure),
                "landscape")


def dendrogram_plot(linkage: pd.DataFrame, members: pd.DataFrame) -> Plot | None:
    """The disconnectivity graph of each group with minima (merges at absolute saddle
    heights)."""
    if linkage.empty:
        return None
    groups = list(dict.fromkeys(zip(linkage["regime"], linkage["optimizer"], strict=True)))
    figure, axes = _panels(len(groups), 2.6)
    for ax, (regime, optimizer) in zip(axes, groups, strict=True):
        merges = linkage[(linkage["regime"] == regime) & (linkage["optimizer"] == optimizer)]
        part = members[(members["regime"] == regime) & (members["optimizer"] == optimizer)
                       & members["basin"].notna()]  # the points the geometry measured
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
        ax.set_title(short_label(f"{regime}, {optimizer}", 26), fontsize=8, parse_math=False)
        ax.tick_params(labelsize=6)
    axes[0].set_ylabel("loss (share of variance)", fontsize=7)
    return Plot("Disconnectivity graphs: minima merge at the height of the lowest path "
                "between them",
                png_uri(figure), "landscape")


def minima_map(members: pd.DataFrame) -> Plot:
    """Kernel-PCA coordinates of the points, by regime and optimizer and by seed."""
    figure = Figure(figsize=(8.2, 3.0), dpi=DPI, layout="constrained")
    left, right = figure.subplots(1, 2)
    for (regime, optimizer), (colour, marker) in _style(members).items():
        part = members[(members["regime"] == regime) & (members["optimizer"] == optimizer)]
        left.scatter(part["map_1"], part["map_2"], color=colour, marker=marker, s=18,
                     label=short_label(f"{regime}, {optimizer}", 24))
    seeds = pd.factorize(members["sample_seed"])[0] if "sample_seed" in members else \
        np.zeros(len(members), dtype=int)
    right.scatter(members["map_1"], members["map_2"], c=seeds % 10, cmap="tab10",
                  vmin=0, vmax=9, s=18)
    for ax, title in ((left, "by regime and optimizer"), (right, "by initialization seed")):
        ax.set_title(f"Map of minima (kernel PCA), {title}", fontsize=8)
        ax.tick_params(labelsize=6)
    left.legend(fontsize=6, frameon=False)
    return Plot("Kernel-PCA map of the aligned points, by regime and optimizer and by seed",
                png_uri(figure), "landscape")


def path_plot(paths: pd.DataFrame) -> Plot | None:
    """The loss along the straight line and the fitted Fourier path of one pair per
    group (its spanning tree's highest barrier)."""
    if paths.empty:
        return None
    groups = list(dict.fromkeys(zip(paths["regime"], paths["optimizer"], strict=True)))
    figure, axes = _panels(len(groups), 2.4)
    for ax, (regime, optimizer) in zip(axes, groups, strict=True):
        part = paths[(paths["regime"] == regime) & (paths["optimizer"] == optimizer)]
        for name, style in (("straight", "--"), ("fourier", "-")):
            one = part[part["path"] == name]
            ax.plot(one["t"], one["loss"], style, color="#24292f", lw=1, label=name)
        ax.set_title(short_label(f"{regime}, {optimizer}", 26), fontsize=8, parse_math=False)
        ax.set_xlabel("t", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6, frameon=False)
    axes[0].set_ylabel("loss on the group's training rows", fontsize=7)
    return Plot("Loss along the straight line and along the fitted Fourier path",
                png_uri(figure), "landscape")


def relevance_plot(features: pd.DataFrame) -> Plot | None:
    """The input features each group's minima conserve most (all its minima)."""
    sets = features[features["minima"] == "all"] if "minima" in features else features
    if sets.empty:
        return None
    groups = list(dict.fromkeys(zip(sets["regime"], sets["optimizer"], strict=True)))
    figure, axes = _panels(len(groups), 3.2)
    for ax, (regime, optimizer) in zip(axes, groups, strict=True):
        part = sets[(sets["regime"] == regime) & (sets["optimizer"] == optimizer)]
        top = part.nlargest(TOP_FEATURES, "relevance")[::-1]
        y = np.arange(len(top))
        ax.barh(y, top["relevance"], color="#0969da")
        ax.set_yticks(y, [short_label(str(f), 14) for f in top["feature"]], fontsize=6)
        for label in ax.get_yticklabels():
            label.set_parse_math(False)
        agreement = float(part["agreement"].iloc[0]) if len(part) else float("nan")
        ax.set_title(short_label(f"{regime}, {optimizer}", 26) +
                     f"\nρ with permutation importance {agreement:.2f}", fontsize=7,
                     parse_math=False)
        ax.tick_params(axis="x", labelsize=6)
    figure.supxlabel("conserved share of the feature's first-layer weights", fontsize=7)
    return Plot("Input features whose first-layer weights the minima conserve",
                png_uri(figure), "landscape")
