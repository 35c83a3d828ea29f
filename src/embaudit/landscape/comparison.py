"""The optimizer study's comparisons, and the question the landscape is asked here: do
hypotheses read off deep, sharp or isolated minima replicate less often?

Replication per (member, hypothesis) comes from :mod:`embaudit.hypotheses` (the
member's own best axis for each attribute, checked on the holdout); this module only
relates it to the geometry of the member's minimum.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from statsmodels.genmod.families import Binomial
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.stats.multitest import multipletests
from statsmodels.tools.sm_exceptions import PerfectSeparationError

#: per-member measures summarized per regime and optimizer
COMPARED = ("train_loss", "holdout_loss", "gradient_norm", "lambda_max_canonical",
            "trace_canonical", "barrier_to_reference", "replication_rate")
#: fewer minima than this give no test (clustered errors need enough clusters)
MIN_MINIMA = 10
#: fewer clusters than this give no test (cluster-robust errors need enough)
MIN_CLUSTERS = 5
#: a log-odds slope beyond this per sd means the outcome is separated, not estimated
_SEPARATED = 15.0
#: geometry that may predict replication: (column, transform before standardizing)
PREDICTORS = (("lambda_max_canonical", "log"), ("trace_canonical", "log"),
              ("barrier_to_reference", "none"), ("train_loss", "log"))


def optimizer_comparison(members: pd.DataFrame, confidence: float = 0.95,
                         n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per regime and optimizer, the mean of each measure over its minima with a
    bootstrap percentile interval (minima resampled)."""
    rng = np.random.default_rng(seed)
    tail = (1 - confidence) / 2
    rows = []
    for (regime, optimizer), part in members.groupby(["regime", "optimizer"], sort=False):
        row: dict[str, object] = {"regime": regime, "optimizer": optimizer,
                                  "n_minima": len(part)}
        draws = rng.integers(0, len(part), size=(n_resamples, len(part)))
        for column in COMPARED:
            values = part[column].to_numpy(dtype=float)
            row[column] = float(np.nanmean(values)) if np.isfinite(values).any() else np.nan
            with warnings.catch_warnings():  # a draw of only missing values: NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                means = np.nanmean(values[draws], axis=1) if np.isfinite(values).any() \
                    else np.full(n_resamples, np.nan)
            row[f"{column}_ci_low"] = float(np.nanquantile(means, tail)) \
                if np.isfinite(means).any() else np.nan
            row[f"{column}_ci_high"] = float(np.nanquantile(means, 1 - tail)) \
                if np.isfinite(means).any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


#: what minima can share, in the members table: their training rows and their seed
SHARED = ("sample_rows", "sample_seed")


def replication_association(members: pd.DataFrame, replication: pd.DataFrame,
                            confidence: float = 0.95, clusters: Sequence[str] = SHARED
                            ) -> pd.DataFrame:
    """Logistic regression of "this member's hypothesis replicated" on each geometric
    measure of the member's minimum, one at a time, *within* regimes and optimizers.

    The measure is centred and scaled within each group (regime × optimizer) and every
    group has its own intercept, so differences between regimes (regularized networks
    are flatter and replicate differently) cannot pose as an effect of the geometry.
    Errors are clustered on what minima share (``clusters``: columns of ``members``;
    those that vary are used, two at once as two-way clustering, none: the minimum
    itself): a seed or a sample reused across regimes and optimizers makes those minima
    one unit, not several. A measure that is 0 by construction (the reference's barrier
    to itself) is no data: rows with a missing measure are left out. ``p_holm`` corrects
    the predictors' p-values for their number. ``reason`` says why a row has no
    estimate.
    """
    data = replication.merge(members, on="member_id", how="inner")
    rows = []
    for column, transform in PREDICTORS:
        part = data[np.isfinite(data[column].astype(float))].copy()
        values = part[column].to_numpy(dtype=float)
        if transform == "log":
            values = np.log(np.clip(values, 1e-12, None))
        part["value"] = values
        used = [c for c in clusters if c in part and part[c].nunique() > 1] \
            or ["member_id"]
        row: dict[str, object] = {
            "predictor": column, "transform": transform,
            "n_minima": part["member_id"].nunique(), "n_hypotheses": len(part),
            "clustered_by": " × ".join(used),
            "n_clusters": int(min(part[c].nunique() for c in used)) if len(part) else 0,
            "coefficient": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan,
            "reason": ""}
        row.update(_within_group_fit(part, used, confidence))
        rows.append(row)
    table = pd.DataFrame(rows)
    tested = table["p_value"].notna()
    table["p_holm"] = np.nan
    if tested.any():
        table.loc[tested, "p_holm"] = multipletests(table.loc[tested, "p_value"],
                                                    method="holm")[1]
    return table


def _within_group_fit(part: pd.DataFrame, clusters: list[str], confidence: float
                      ) -> dict[str, object]:
    """The clustered logistic fit of ``replicated`` on ``value`` within groups, or the
    reason there is none."""
    if part["member_id"].nunique() < MIN_MINIMA:
        return {"reason": f"fewer than {MIN_MINIMA} minima"}
    if min(part[c].nunique() for c in clusters) < MIN_CLUSTERS:
        return {"reason": f"fewer than {MIN_CLUSTERS} clusters ({' × '.join(clusters)})"}
    if part["replicated"].nunique() < 2:
        return {"reason": "replication does not vary"}
    keys = part["regime"].astype(str) + "/" + part["optimizer"].astype(str)
    grouped = part.groupby(keys)["value"]
    centred = part["value"] - grouped.transform("mean")
    spread = float(np.sqrt((centred**2).mean()))
    if not spread > 1e-12:
        return {"reason": "the measure does not vary within a group"}
    design = pd.get_dummies(keys, dtype=float)
    design.insert(0, "value", centred / spread)
    codes = np.column_stack([pd.factorize(part[c])[0] for c in clusters])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # separation is detected below, not warned about
        try:
            fit = GLM(part["replicated"].to_numpy(dtype=float), design.to_numpy(),
                         family=Binomial()).fit(
                cov_type="cluster", cov_kwds={"groups": codes[:, 0] if codes.shape[1] == 1
                                              else codes})
        except (np.linalg.LinAlgError, ValueError, PerfectSeparationError):
            return {"reason": "the fit did not converge (separation)"}
    low, high = fit.conf_int(alpha=1 - confidence)[0]
    estimates = (fit.params[0], fit.bse[0], low, high, fit.pvalues[0])
    if not all(np.isfinite(estimates)) or abs(fit.params[0]) > _SEPARATED:
        return {"reason": "replication is (almost) perfectly separated by the measure"}
    return {"coefficient": float(fit.params[0]), "ci_low": float(low),
            "ci_high": float(high), "p_value": float(fit.pvalues[0])}
