"""Multiple testing, in one place: every q-value an audit or a claim check reports.

``adjust`` is ``statsmodels.stats.multitest.multipletests`` with NaN (untestable)
p-values kept out of the family. ``holdout_q`` is the entry point the verdicts use:
for BH and BY one family per attribute (Benjamini and Bogomolov, 2014: families
selected by BH or BY on one p each, a categorical attribute's omnibus test, and a
selected family's levels tested within it at the level α·R/m that selection leaves);
Holm and Bonferroni over all included columns; ``maxt`` the Westfall–Young max-T
adjustment over the holdout's permutations, which controls the family-wise error.
"""

from __future__ import annotations

import numpy as np
from statsmodels.stats.multitest import multipletests

from embaudit.hypotheses.inference import HoldoutAssociation

#: the corrections a config or a claim check may name
CORRECTIONS = ("fdr_bh", "fdr_by", "holm", "bonferroni", "maxt")


def adjust(p_values: np.ndarray, method: str, alpha: float) -> np.ndarray:
    """Multiplicity-adjusted p-values (q-values for BH/BY) via statsmodels.

    NaN p-values (untestable hypotheses) stay NaN and do not enter the family.
    """
    p_values = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p_values, np.nan)
    finite = np.isfinite(p_values)
    if finite.any():
        adjusted[finite] = multipletests(p_values[finite], alpha=alpha, method=method)[1]
    return adjusted


def holdout_q(holdout: HoldoutAssociation, direction: np.ndarray, included: np.ndarray,
              families: np.ndarray, method: str, alpha: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """q-values of the ``included`` columns in the claimed ``direction`` and in the
    opposite one (NaN for the others); ``families``: each column's attribute code."""
    if method == "maxt":
        claimed = np.where(included, direction, 0)
        return (np.where(included, holdout.p_max_t(claimed), np.nan),
                np.where(included, holdout.p_max_t(-claimed), np.nan))
    q = family_q(holdout.p_value(direction), holdout.family_p, families, included, method,
                 alpha)
    q_opposite = np.full(len(direction), np.nan)
    q_opposite[included] = adjust(holdout.p_value(-direction)[included], method, alpha)
    return q, q_opposite


def family_q(p: np.ndarray, family_p: np.ndarray | None, families: np.ndarray,
             included: np.ndarray, method: str, alpha: float) -> np.ndarray:
    """q-values of the ``included`` columns, one family per attribute (``families``: its
    code per column; see the module docstring); NaN for the others and for untestable
    columns."""
    q = np.full(len(p), np.nan)
    rows = np.flatnonzero(included & np.isfinite(p))
    if not len(rows):
        return q
    if method not in ("fdr_bh", "fdr_by"):
        q[rows] = adjust(p[rows], method, alpha)
        return q
    sizes = np.bincount(families)  # columns of each attribute in the table
    codes = np.unique(families[rows])
    members = [rows[families[rows] == code] for code in codes]
    q_family = adjust(np.array([
        p[m[0]] if sizes[code] == 1 else _omnibus(family_p, m, p, sizes[code])
        for code, m in zip(codes, members, strict=True)]), method, alpha)
    scale = len(codes) / max(int((q_family <= alpha).sum()), 1)
    for code, m, qf in zip(codes, members, q_family, strict=True):
        q[m] = qf if sizes[code] == 1 else np.maximum(  # levels within their family, at
            qf, np.minimum(1.0, adjust(p[m], method, alpha) * scale))  # the level left
    return q


def _omnibus(family_p: np.ndarray | None, members: np.ndarray, p: np.ndarray,
             size: int) -> float:
    """The omnibus p of an attribute with several columns (Bonferroni over its levels'
    p when the holdout gave none)."""
    if family_p is not None and np.isfinite(family_p[members[0]]):
        return float(family_p[members[0]])
    return float(min(1.0, size * np.nanmin(p[members])))


def threshold_used(q: np.ndarray, included: np.ndarray, method: str, alpha: float) -> float:
    """The p a further hypothesis of the family would need to be confirmed, given the
    others: BH α(R+1)/m, BY the same over Σ1/i, Holm α/(m-R), max-T its Bonferroni
    bound α/m (m hypotheses, R confirmed)."""
    m = int((included & np.isfinite(q)).sum())
    if m == 0:
        return alpha
    confirmed = int((q[included] <= alpha).sum())
    if method == "fdr_bh":
        return alpha * min(confirmed + 1, m) / m
    if method == "fdr_by":
        return alpha * min(confirmed + 1, m) / (m * np.sum(1.0 / np.arange(1, m + 1)))
    if method == "holm":
        return alpha / max(m - confirmed, 1)
    return alpha / m
