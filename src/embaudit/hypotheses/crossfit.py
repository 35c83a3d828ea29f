"""Cross-fit replication: every row serves discovery and holdout, never at once.

Fold k's network is trained on the other folds; its candidates are read there and
tested on fold k only. Per fold, the replication rate is the share of its candidates
(every attribute with a trend) whose one-sided holdout p ≤ α in the claimed direction;
with no association at all it is about α. Across folds: the mean rate, its spread, and
per attribute how many folds replicated it with one direction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from embaudit.core.members import Split
from embaudit.core.regimes import REGIMES
from embaudit.core.schema import AGREEMENT_COLUMNS, CROSSFIT_COLUMNS
from embaudit.hypotheses.discovery import best_candidates, live_axes, raw_candidates
from embaudit.hypotheses.evidence import DiscoveryData
from embaudit.hypotheses.inference import HoldoutAssociation


def crossfit_replication(
    folds: Sequence[Split],
    embeddings: Mapping[str, Sequence[np.ndarray] | None],
    data: DiscoveryData,
    names: Sequence[str],
    alpha: float,
    fold_test: Callable[[np.ndarray], HoldoutAssociation],
) -> pd.DataFrame:
    """Per regime, fold and attribute: the candidate read on the other folds, tested on
    this one.

    ``embeddings`` maps each regime to its folds' network embeddings of all rows (n × h),
    in fold order (none for a regime without embedding: raw screening). ``fold_test``
    tests every attribute on a fold's rows as the main holdout is tested (cluster-robust
    with a group column, the censored tests with an event column).
    """
    tests = [fold_test(f.holdout) for f in folds]  # a fold's, for every regime
    frames = [_fold_frame(regime, fold, split, found, data, names, tests[fold], alpha)
              for regime, found in embeddings.items() for fold, split in enumerate(folds)]
    return pd.concat(frames, ignore_index=True)[list(CROSSFIT_COLUMNS)]


def _fold_frame(regime: str, fold: int, split: Split, embeddings: Sequence[np.ndarray] | None,
                data: DiscoveryData, names: Sequence[str], test: HoldoutAssociation,
                alpha: float) -> pd.DataFrame:
    """One regime's candidates of one fold and their test on its holdout."""
    S, A, y, C = split.discovery, data.attributes, data.lifespan, data.covariates
    if not REGIMES[regime].has_embedding or embeddings is None:
        candidates = raw_candidates(A[S], y[S], None if C is None else C[S],
                                    data.ranked_lifespan)
    else:
        E = embeddings[fold].astype(np.float64)
        fold_data = replace(data, discovery=S, holdout=split.holdout)
        candidates = best_candidates(fold_data.correlations(E, y, S, live_axes(E[S])))
    claimed = candidates.direction != 0
    p = test.p_value(candidates.direction)
    return pd.DataFrame({
        "regime": regime,
        "fold": fold,
        "attribute": list(names),
        "axis": pd.array([int(a) if REGIMES[regime].has_embedding else pd.NA
                          for a in candidates.axis], dtype="Int64"),
        "direction": np.where(candidates.direction > 0, "+", "-"),
        "strength": candidates.strength,
        "effect_holdout": test.effect(candidates.direction),
        "p_holdout": p,
        "replicated": claimed & (p <= alpha),
        "n_holdout": len(split.holdout),
    })[claimed]


def crossfit_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per regime: replication rate per fold, their mean and standard deviation."""
    per_fold = frame.groupby(["regime", "fold"], sort=False)["replicated"].agg(["sum", "size"])
    rates = (per_fold["sum"] / per_fold["size"]).rename("rate").reset_index()
    return rates.groupby("regime", sort=False)["rate"].agg(
        crossfit_rate="mean", crossfit_rate_sd="std", crossfit_folds="size").reset_index()


def attribute_agreement(frame: pd.DataFrame) -> pd.DataFrame:
    """Per regime and attribute: folds that claimed it, agreed on its direction and
    replicated it."""
    def agree(group: pd.DataFrame) -> pd.Series:
        majority = group["direction"].mode().iloc[0]
        return pd.Series({
            "direction": majority,
            "folds_claimed": len(group),
            "folds_same_direction": int((group["direction"] == majority).sum()),
            "folds_replicated": int((group["replicated"] & (group["direction"] == majority))
                                    .sum()),
        })
    if frame.empty:
        return pd.DataFrame(columns=list(AGREEMENT_COLUMNS))
    return frame.groupby(["regime", "attribute"], sort=False)[
        ["direction", "replicated"]].apply(agree).reset_index()[list(AGREEMENT_COLUMNS)]


def crossfit_tables(frame: pd.DataFrame, n_folds: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cross-fit results as an audit reports them: per regime the rate across folds
    with the count of attributes replicated in every fold, and per attribute the folds'
    agreement (both empty without cross-fit)."""
    if frame.empty:
        return pd.DataFrame(), pd.DataFrame(columns=list(AGREEMENT_COLUMNS))
    agreement = attribute_agreement(frame)
    stable = agreement.groupby("regime", sort=False)["folds_replicated"].agg(
        attributes_replicated_in_every_fold=lambda s: int((s == n_folds).sum()))
    return crossfit_summary(frame).merge(stable.reset_index(), on="regime"), agreement
