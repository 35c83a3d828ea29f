"""The landscape's tables as the HTML and Markdown reports show them (the same cells)."""

from __future__ import annotations

import math

import pandas as pd

from embaudit.landscape import Landscape
from embaudit.landscape.comparison import COMPARED
from embaudit.reports.json_report import display_table, format_cell

Table = tuple[list[str], list[list[str]]]

#: what the landscape section says before its tables
LANDSCAPE_NOTE = (
    "Per regime and optimizer, the reference and the first bootstrap networks (the "
    "minima) are folded into common units (inputs and lifespan standardized on the "
    "discovery rows; a loss of 1 is no better than the mean). Depth: training loss on the "
    "minimum's own rows. Sharpness: largest Hessian eigenvalue (Lanczos) and trace "
    "(Hutch++) at the canonical point, where every hidden unit's incoming weights have "
    "unit norm, so ReLU rescaling cannot change them. Barriers: the highest loss on the "
    "discovery rows along a path between two minima, less the higher end, after matching "
    "hidden units; Fourier paths are fitted on the spanning tree of the barrier graph. "
    "Replication: the share of a minimum's own hypotheses (best axis per attribute) whose "
    "axis still orders attribute and lifespan on the holdout. Intervals: minima "
    "resampled.")


def _with_interval(frame: pd.DataFrame, column: str) -> list[str]:
    cells = []
    for row in frame.to_dict(orient="records"):
        value = row[column]
        low, high = row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high")
        text = format_cell(value, column)
        if low is not None and high is not None and not any(
                isinstance(v, float) and math.isnan(v) for v in (low, high)):
            text += f" [{format_cell(low, column)}, {format_cell(high, column)}]"
        cells.append(text)
    return cells


def optimizer_table(landscape: Landscape) -> Table:
    """Per regime and optimizer: each measure's mean over the minima with its interval."""
    frame = landscape.optimizers
    header = ["regime", "optimizer", "n_minima", *COMPARED]
    columns = [[str(v) for v in frame["regime"]], [str(v) for v in frame["optimizer"]],
               [str(v) for v in frame["n_minima"]]]
    columns += [_with_interval(frame, c) for c in COMPARED]
    return header, [list(row) for row in zip(*columns, strict=True)]


def association_table(landscape: Landscape) -> Table:
    """Geometry against replication (logistic, clustered by minimum)."""
    return display_table(landscape.association, list(landscape.association.columns))


def basin_table(landscape: Landscape) -> Table:
    """Basins per group and whether an ensemble of basins beats the best minimum."""
    columns = ["regime", "optimizer", "n_minima", "basin_sizes", "ensemble_holdout_loss",
               "mean_member_holdout_loss", "ambiguity", "n_basins", "ensemble_loss",
               "best_single_loss", "gain", "gain_ci_low", "gain_ci_high"]
    return display_table(landscape.basins, columns)
