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
    "Per regime and optimizer, the reference and seed replicates of it (same rows, other "
    "initializations) are folded into common units (inputs and lifespan standardized on "
    "the discovery rows; a loss of 1 is no better than the mean) and polished to "
    "stationary points of their one loss (the group's training rows; with weight decay "
    "its L2 penalty) by L-BFGS; early-stopped points are not polished and are not minima. "
    "Depth: that loss. Sharpness: the extreme Hessian eigenvalues (Lanczos to a residual "
    "tolerance) and trace (Hutch++) at the canonical point, where every hidden unit's "
    "incoming weights have unit norm, so ReLU rescaling cannot change them. Paths between "
    "minima only, after matching hidden units: heights are absolute (the highest loss on "
    "the path), barriers are measured from each end; Fourier paths are fitted on the "
    "spanning tree of the straight heights. Replication: the share of a minimum's own "
    "hypotheses (best axis per attribute) whose axis still orders attribute and lifespan "
    "on the holdout. Intervals: minima resampled.")


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


#: the measures the optimizer table shows (gradient norms and traces are in the text)
SHOWN = tuple(c for c in COMPARED if c not in ("gradient_norm", "trace_canonical"))


def optimizer_table(landscape: Landscape) -> Table:
    """Per regime and optimizer: each measure's mean over the points with its interval."""
    frame = landscape.optimizers
    header = ["regime", "optimizer", "n_points", *SHOWN]
    columns = [[str(v) for v in frame["regime"]], [str(v) for v in frame["optimizer"]],
               [str(v) for v in frame["n_minima"]]]
    columns += [_with_interval(frame, c) for c in SHOWN]
    return header, [list(row) for row in zip(*columns, strict=True)]


def association_table(landscape: Landscape) -> Table:
    """Geometry against replication (logistic, clustered by minimum)."""
    return display_table(landscape.association, list(landscape.association.columns))


def basin_table(landscape: Landscape) -> Table:
    """Basins per group, specialisation and one minimum per basin against their nulls
    (intervals in the cell, so the table fits a page)."""
    frame = landscape.basins.reindex(columns=[
        "regime", "optimizer", "n_minima", "basin_sizes", "n_sequence_basins", "share_p",
        "gate_gain", "gate_gain_ci_low", "gate_gain_ci_high", "gate_p", "gain",
        "gain_ci_low", "gain_ci_high", "random_p"])
    header = ["regime", "optimizer", "n_minima", "basin_sizes", "n_sequence_basins",
              "share_p", "gate_gain", "gate_p", "gain", "random_p"]
    cells = {c: [format_cell(v, c) for v in frame[c]] for c in header}
    cells["n_sequence_basins"] = ["–" if v != v else str(int(v))
                                  for v in frame["n_sequence_basins"]]
    cells["gate_gain"], cells["gain"] = _with_interval(frame, "gate_gain"), \
        _with_interval(frame, "gain")
    return header, [list(row) for row in zip(*(cells[c] for c in header), strict=True)]


def status_table(landscape: Landscape) -> Table:
    """Per regime and optimizer: what its points are (minimum, saddle, …), the largest
    gradient norm as trained and after polishing, the range of λ_min, and how many
    Lanczos runs converged."""
    header = ["regime", "optimizer", "points", "minima", "saddles", "not stationary",
              "stopped early", "λ unconverged", "max |∇| trained", "max |∇| polished",
              "λ_min", "Lanczos converged"]
    rows = []
    members = landscape.members[~landscape.members["diverged"].astype(bool)]
    for (regime, optimizer), part in members.groupby(["regime", "optimizer"], sort=False):
        status = part["status"].value_counts()
        rows.append([
            str(regime), str(optimizer), str(len(part)),
            *(str(int(status.get(name, 0))) for name in (
                "minimum", "saddle", "not stationary", "stopped early",
                "curvature not converged")),
            f"{part['gradient_norm_trained'].max():.2g}",
            f"{part['gradient_norm'].max():.2g}",
            f"{part['lambda_min'].min():.2g} to {part['lambda_min'].max():.2g}",
            f"{int(part['lanczos_converged'].astype(bool).sum())} of {len(part)}"])
    return header, rows
