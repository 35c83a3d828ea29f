"""The landscape's tables as the HTML and Markdown reports show them (the same cells)."""

from __future__ import annotations

from typing import Any

from embaudit.landscape import Landscape
from embaudit.landscape.comparison import COMPARED
from embaudit.reports.labels import Header, label
from embaudit.reports.tables import (
    Column,
    Interval,
    Table,
    build_table,
    is_number,
    not_computed,
)

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


#: the measures the optimizer table shows (gradient norms and traces are in the text)
SHOWN = tuple(c for c in COMPARED if c not in ("gradient_norm", "trace_canonical"))


def optimizer_table(landscape: Landscape) -> Table:
    """Per regime and optimizer: each measure's mean over the points with its interval."""
    columns: list[Column] = ["regime", "optimizer", "n_minima",
                             *(Interval(c, f"{c}_ci_low", f"{c}_ci_high", "CI")
                               for c in SHOWN)]
    table = build_table(landscape.optimizers.to_dict(orient="records"), columns,
                        _optimizer_why)
    table.header[2] = Header(label("n_points"), ("n_minima",))  # every point, not minima
    return table


def _optimizer_why(key: str, row: dict[str, Any]) -> str:
    if key == "barrier_to_reference":
        return "no path to the reference"
    return not_computed(key, row)


def association_table(landscape: Landscape) -> Table:
    """Geometry against replication (logistic, clustered by minimum): the coefficient
    with its interval, or why it has none."""
    frame = landscape.association.copy()
    if "predictor" in frame.columns:
        frame["predictor"] = [label(str(p)) for p in frame["predictor"]]
    columns: list[Column] = [
        "predictor", "transform", "n_minima", "n_hypotheses", "clustered_by", "n_clusters",
        Interval("coefficient", "ci_low", "ci_high", "95% CI"), "p_value", "p_holm"]
    return build_table(frame.to_dict(orient="records"),
                       [c for c in columns if isinstance(c, Interval) or c in frame.columns],
                       _association_why, words=("coefficient",))


def _association_why(key: str, row: dict[str, Any]) -> str:
    reason = row.get("reason")
    if key == "coefficient" and isinstance(reason, str) and reason:
        return f"no estimate: {reason}"
    if key in ("p_value", "p_holm"):
        return "no estimate"
    return not_computed(key, row)


def basin_table(landscape: Landscape) -> Table:
    """Basins per group, specialisation and one minimum per basin against their nulls
    (intervals in the cell, so the table fits a page)."""
    columns: list[Column] = [
        "regime", "optimizer", "n_minima", "basin_sizes", "n_sequence_basins", "share_p",
        Interval("gate_gain", "gate_gain_ci_low", "gate_gain_ci_high", "CI"), "gate_p",
        Interval("gain", "gain_ci_low", "gain_ci_high", "CI"), "random_p"]
    frame = landscape.basins.copy()
    if "n_sequence_basins" in frame.columns:  # a count, stored as float beside NaN
        frame["n_sequence_basins"] = frame["n_sequence_basins"].astype("Int64")
    return build_table(frame.to_dict(orient="records"), columns, _basin_why,
                       words=("gain", "random_p"))


def _basin_why(key: str, row: dict[str, Any]) -> str:
    minima = row.get("n_minima")
    if is_number(minima) and int(minima) < 2:
        return "fewer than 2 minima"
    reason = row.get("reason")
    if key in ("gain", "random_p") and isinstance(reason, str) and reason:
        return reason
    return not_computed(key, row)


#: the status table's columns after regime and optimizer: (header, what it summarizes
#: of report.json's landscape.members, the tooltip)
_STATUS = (("points", "rows"), ("minima", "status = minimum"),
           ("saddles", "status = saddle"), ("not stationary", "status = not stationary"),
           ("stopped early", "status = stopped early"),
           ("λ unconverged", "status = curvature not converged"),
           ("max |∇| trained", "max gradient_norm_trained"),
           ("max |∇| polished", "max gradient_norm"), ("λ_min", "range of lambda_min"),
           ("Lanczos converged", "lanczos_converged"))


def status_table(landscape: Landscape) -> Table:
    """Per regime and optimizer: what its points are (minimum, saddle, …), the largest
    gradient norm as trained and after polishing, the range of λ_min, and how many
    Lanczos runs converged."""
    header = [Header(label("regime"), ("regime",)), Header(label("optimizer"), ("optimizer",)),
              *(Header(name, (f"landscape.members: {what}",)) for name, what in _STATUS)]
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
    return Table(header, rows, [""] * len(header))
