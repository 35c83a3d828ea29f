"""The optimizer study's comparisons, and the question the landscape is asked here: do
hypotheses read off deep, sharp or isolated minima replicate less often?

Replication per (member, hypothesis) comes from :mod:`embaudit.hypotheses` (the
member's own best axis for each attribute, checked on the holdout); this module only
relates it to the geometry of the member's minimum.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm

#: per-member measures summarized per regime and optimizer
COMPARED = ("train_loss", "holdout_loss", "lambda_max_canonical", "trace_canonical",
            "barrier_to_reference", "replication_rate")
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
            with np.errstate(invalid="ignore"):
                means = np.nanmean(values[draws], axis=1) if np.isfinite(values).any() \
                    else np.full(n_resamples, np.nan)
            row[f"{column}_ci_low"] = float(np.nanquantile(means, tail)) \
                if np.isfinite(means).any() else np.nan
            row[f"{column}_ci_high"] = float(np.nanquantile(means, 1 - tail)) \
                if np.isfinite(means).any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def replication_association(members: pd.DataFrame, replication: pd.DataFrame,
                            confidence: float = 0.95) -> pd.DataFrame:
    """Logistic regression of "this member's hypothesis replicated" on each geometric
    measure of the member's minimum (standardized, one at a time), with errors
    clustered by member: the members are the units, their hypotheses are not
    independent. A negative coefficient: sharper (deeper, more isolated) minima give
    hypotheses that replicate less often. NaN where replication does not vary."""
    data = replication.merge(members, on="member_id", how="inner")
    rows = []
    for column, transform in PREDICTORS:
        part = data[np.isfinite(data[column].astype(float))]
        values = part[column].to_numpy(dtype=float)
        if transform == "log":
            values = np.log(np.clip(values, 1e-12, None))
        outcome = part["replicated"].to_numpy(dtype=float)
        row = {"predictor": column, "transform": transform,
               "n_minima": part["member_id"].nunique(), "n_hypotheses": len(part),
               "coefficient": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan}
        if len(part) and np.ptp(outcome) > 0 and np.ptp(values) > 0 and \
                row["n_minima"] >= 3:
            z = (values - values.mean()) / values.std()
            clusters = pd.factorize(part["member_id"])[0]
            fit = sm.GLM(outcome, sm.add_constant(z), family=sm.families.Binomial()).fit(
                cov_type="cluster", cov_kwds={"groups": clusters})
            low, high = fit.conf_int(alpha=1 - confidence)[1]
            row.update(coefficient=float(fit.params[1]), ci_low=float(low),
                       ci_high=float(high), p_value=float(fit.pvalues[1]))
        rows.append(row)
    return pd.DataFrame(rows)
