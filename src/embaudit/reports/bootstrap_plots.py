"""Figures of what the bootstrap networks say about each trend: the intervals of
r(axis, attribute) and r(axis, lifespan), how often each aligned axis is an
attribute's best, and how well each network aligned to the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from embaudit.reports.plots import DPI, Plot, png_uri, short_label

#: alignment-quality columns drawn, with their axis labels
_QUALITY = (("disparity", "Procrustes disparity"), ("protest_p", "PROTEST p"),
            ("cka", "linear CKA"))


def axis_forest(hypotheses: pd.DataFrame, regime: str) -> Plot | None:
    """Per found hypothesis of ``regime``: r(axis, attribute) and r(axis, lifespan) on the
    discovery rows with their intervals across the aligned bootstrap networks."""
    part = hypotheses[(hypotheses["regime"] == regime) & hypotheses["found"].astype(bool)]
    part = part.dropna(subset=["r_axis_attribute"]).reset_index(drop=True)
    if part.empty:
        return None
    figure = Figure(figsize=(6.4, 0.9 + 0.26 * len(part)), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    y = np.arange(len(part))[::-1]
    for ax, name, colour in zip(axes, ("attribute", "lifespan"), ("#0969da", "#bc4c00"),
                                strict=True):
        value = part[f"r_axis_{name}"].astype(float).to_numpy()
        low = part[f"r_axis_{name}_ci_low"].astype(float).to_numpy()
        high = part[f"r_axis_{name}_ci_high"].astype(float).to_numpy()
        ax.hlines(y, low, high, color=colour, lw=1.2)
        ax.scatter(value, y, color=colour, s=12, zorder=3)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_title(f"r(axis, {name})", fontsize=8)
        ax.tick_params(labelsize=6)
    labels = [f"{short_label(str(a), 18)} · axis {int(x)}"
              for a, x in zip(part["attribute"], part["axis"], strict=True)]
    axes[0].set_yticks(y, labels, fontsize=6)
    for label in axes[0].get_yticklabels():
        label.set_parse_math(False)
    figure.suptitle(f"Found trends of the {regime} regime: discovery rows (dot) and the "
                    "interval across bootstrap networks", fontsize=8, parse_math=False)
    return Plot(f"Bootstrap forest plot of r(axis, attribute) and r(axis, lifespan), "
                f"{regime} regime", png_uri(figure), "forest")


def stability_heatmap(stability: pd.DataFrame, regime: str) -> Plot | None:
    """Attribute × aligned axis: the share of bootstrap networks whose best axis for the
    attribute is that axis (a stable trend has one dark cell in its row)."""
    part = stability[stability["regime"] == regime]
    if part.empty:
        return None
    grid = part.pivot_table(index="attribute", columns="axis", values="share", sort=False)
    figure = Figure(figsize=(1.6 + 0.28 * grid.shape[1], 0.9 + 0.22 * grid.shape[0]),
                    dpi=DPI, layout="constrained")
    ax = figure.add_subplot()
    image = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="Blues", vmin=0,
                      vmax=1)
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns], fontsize=6)
    ax.set_yticks(range(grid.shape[0]), [short_label(str(a), 22) for a in grid.index],
                  fontsize=6)
    for label in ax.get_yticklabels():
        label.set_parse_math(False)
    ax.set_xlabel("aligned axis", fontsize=7)
    figure.colorbar(image, ax=ax, label="share of bootstrap networks")
    ax.set_title(f"Axis stability, {regime} regime", fontsize=8, parse_math=False)
    return Plot(f"Attribute × aligned-axis stability heat map, {regime} regime",
                png_uri(figure), "heatmap")


def alignment_quality(members: pd.DataFrame) -> Plot | None:
    """Per regime, each bootstrap network's alignment to the reference: disparity,
    PROTEST p and linear CKA."""
    if members.empty or "disparity" not in members.columns:
        return None
    part = members.dropna(subset=["disparity"])
    regimes = list(dict.fromkeys(part["regime"]))
    if not regimes:
        return None
    figure = Figure(figsize=(7.2, 0.8 + 0.3 * len(regimes)), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, len(_QUALITY), sharey=True)
    rng = np.random.default_rng(0)  # jitter only
    for ax, (column, label) in zip(axes, _QUALITY, strict=True):
        for i, regime in enumerate(regimes):
            values = part.loc[part["regime"] == regime, column].astype(float).to_numpy()
            ax.scatter(values, i + rng.uniform(-0.15, 0.15, len(values)), s=6,
                       color="#0969da", alpha=0.6)
        ax.set_xlabel(label, fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].set_yticks(range(len(regimes)), [short_label(str(r), 16) for r in regimes],
                       fontsize=6)
    axes[0].invert_yaxis()
    figure.suptitle("Alignment of each bootstrap network to its reference", fontsize=8)
    return Plot("Alignment quality per bootstrap network: disparity, PROTEST p, CKA",
                png_uri(figure), "alignment")
