"""Which input features the minima rely on: weights a basin conserves, and permutation
importance on the holdout to compare them with.

Redundant features share their importance (shuffling one leaves its stand-ins), so both
are summarized per group of correlated features, importance over several shuffles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from scipy.stats import norm, spearmanr, t

from embaudit.landscape.functional import Layout
from embaudit.landscape.matching import align_units

#: a basin needs this many minima before its conserved weights are summarized
MIN_BASIN_SIZE = 3
#: permutation-importance shuffles per feature group
IMPORTANCE_REPEATS = 5


def feature_groups(x: np.ndarray, threshold: float = 0.7) -> np.ndarray:
    """Per input feature its group (0..G-1): features whose absolute correlation on the
    rows ``x (n, p)`` chains at ``threshold`` or more (average linkage) share one, so a
    redundant feature is shuffled with the ones that stand in for it."""
    p = x.shape[1]
    if p < 2:
        return np.zeros(p, dtype=int)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.nan_to_num(np.corrcoef(x, rowvar=False))
    distance = np.clip(1 - np.abs(correlation), 0, None)
    np.fill_diagonal(distance, 0)
    tree = linkage(squareform((distance + distance.T) / 2, checks=False), method="average")
    labels = fcluster(tree, t=1 - threshold, criterion="distance")
    return pd.factorize(labels)[0]  # groups numbered in the order of their first feature


def group_relevance(first_layers: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per group of input features, how conserved its first-layer weights are across
    minima.

    ``first_layers``: ``(M, h1, p)`` aligned, canonicalized first-layer weights of M
    minima. Per weight, the mean across minima is its conserved part and the spread its
    unconserved part; a group's relevance is the share of its columns' energy that is
    conserved, ``Σ mean² / Σ (mean² + var)`` over its units and features: about 1/M for
    weights that recur with no fixed sign or size, near 1 for weights every minimum
    shares.
    """
    mean, variance = first_layers.mean(axis=0), first_layers.var(axis=0)
    n_groups = groups.max() + 1
    conserved = np.bincount(groups, (mean**2).sum(axis=0), n_groups)
    energy = np.bincount(groups, (mean**2 + variance).sum(axis=0), n_groups)
    return np.where(energy > 0, conserved / np.where(energy > 0, energy, 1), 0.0)


def permutation_importance(layout: Layout, members: torch.Tensor, x: torch.Tensor,
                           y: torch.Tensor, groups: np.ndarray | None = None,
                           n_repeats: int = 5, seed: int = 0) -> np.ndarray:
    """Per feature group and repeat ``(G, n_repeats)``, how much the members' mean
    prediction loses on ``(x, y)`` when that group's columns are shuffled among the rows
    (one permutation of rows for the whole group; ``groups`` default: each feature its
    own).

    Shuffling group g moves every first-layer pre-activation by ``W_:g Δx_g``: the
    first layer is computed once, only the rest per group and repeat.
    """
    generator = torch.Generator().manual_seed(seed)
    groups = np.arange(x.shape[1]) if groups is None else np.asarray(groups)
    layers = layout.unflatten(members)
    w1, b1 = layers[0]

    def rest(z: torch.Tensor) -> torch.Tensor:
        for w, b in layers[1:]:
            z = torch.matmul(w, torch.relu(z)) + b[..., None]
        return z[..., 0, :].mean(0)

    with torch.no_grad():
        z1 = torch.matmul(w1, x.T) + b1[..., None]  # (M, h1, n)
        base = ((rest(z1) - y) ** 2).mean()
        importance = np.empty((groups.max() + 1, n_repeats))
        for g in range(groups.max() + 1):
            columns = torch.as_tensor(np.flatnonzero(groups == g), dtype=torch.long)
            for r in range(n_repeats):
                order = torch.randperm(len(x), generator=generator)
                delta = x[order][:, columns] - x[:, columns]  # (n, |g|)
                moved = z1 + torch.matmul(w1[:, :, columns], delta.T)
                importance[g, r] = float(((rest(moved) - y) ** 2).mean() - base)
    return importance


def rank_agreement(relevance: np.ndarray, importance: np.ndarray, confidence: float = 0.95
                   ) -> dict[str, float]:
    """Spearman's ρ between relevance and mean importance over feature groups, with a
    Fisher-z interval (Bonett–Wright variance for a rank correlation) and its p."""
    n = len(relevance)
    if n < 4 or np.ptp(relevance) == 0 or np.ptp(importance) == 0:
        return {"agreement": np.nan, "agreement_ci_low": np.nan,
                "agreement_ci_high": np.nan, "agreement_p": np.nan}
    result = spearmanr(relevance, importance)
    rho = float(np.clip(result.statistic, -0.999999, 0.999999))
    half = norm.ppf(0.5 + confidence / 2) * np.sqrt((1 + rho**2 / 2) / (n - 3))
    return {"agreement": rho, "agreement_ci_low": float(np.tanh(np.arctanh(rho) - half)),
            "agreement_ci_high": float(np.tanh(np.arctanh(rho) + half)),
            "agreement_p": float(result.pvalue)}


def relevance_table(layout: Layout, minima: torch.Tensor, labels: np.ndarray,
                    x: torch.Tensor, y: torch.Tensor, feature_names: list[str],
                    groups: np.ndarray, seed: int, confidence: float) -> pd.DataFrame:
    """Conserved-weight relevance of each group of correlated inputs against its
    permutation importance on ``(x, y)`` (the holdout; mean and t interval over
    shuffles), for all the minima and for each basin of at least ``MIN_BASIN_SIZE``."""
    names = pd.Series(feature_names).groupby(groups).agg(
        lambda n: n.iloc[0] if len(n) == 1 else f"{n.iloc[0]} (+{len(n) - 1} correlated)")
    sets = [("all", np.arange(len(labels)))]
    sets += [(f"basin {b}", np.flatnonzero(labels == b)) for b in np.unique(labels)
             if (labels == b).sum() >= MIN_BASIN_SIZE]
    frames = []
    for name, index in sets:
        first = minima[int(index[0])]
        aligned = torch.stack([first] + [align_units(layout, first, minima[int(i)])
                                         for i in index[1:]])
        first_layers = layout.unflatten(aligned)[0][0].detach().double().numpy()
        relevance = group_relevance(first_layers, groups)
        importance = permutation_importance(layout, aligned, x, y, groups,
                                            IMPORTANCE_REPEATS, seed)
        mean = importance.mean(axis=1)
        half = t.ppf(0.5 + confidence / 2, IMPORTANCE_REPEATS - 1) \
            * importance.std(axis=1, ddof=1) / np.sqrt(IMPORTANCE_REPEATS)
        frames.append(pd.DataFrame({
            "minima": name, "n_minima": len(index), "feature": names.to_numpy(),
            "n_features": np.bincount(groups), "relevance": relevance,
            "permutation_importance": mean, "importance_ci_low": mean - half,
            "importance_ci_high": mean + half,
            **rank_agreement(relevance, mean, confidence)}))
    return pd.concat(frames, ignore_index=True)
