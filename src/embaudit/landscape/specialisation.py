"""Do different minima specialise on different rows, and does an ensemble of basins
beat the best single minimum?"""

from __future__ import annotations

import numpy as np


def ambiguity_decomposition(predictions: np.ndarray, y: np.ndarray
                            ) -> tuple[float, float, float]:
    """``(ensemble MSE, mean member MSE, ambiguity)`` of ``predictions (M, n)``: the
    ensemble's error is the members' mean error minus their spread around it (exact)."""
    ensemble = predictions.mean(axis=0)
    member_error = ((predictions - y) ** 2).mean()
    ambiguity = ((predictions - ensemble) ** 2).mean()
    return float(((ensemble - y) ** 2).mean()), float(member_error), float(ambiguity)


def best_member_share(predictions: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per member, the share of rows it predicts best among ``predictions (M, n)``."""
    best = np.abs(predictions - y).argmin(axis=0)
    return np.bincount(best, minlength=len(predictions)) / predictions.shape[1]


def basin_ensemble_gain(predictions: np.ndarray, y: np.ndarray, labels: np.ndarray,
                        depth: np.ndarray, n_resamples: int = 1000, confidence: float = 0.95,
                        seed: int = 0) -> dict[str, float | int]:
    """Does averaging one minimum per basin beat the best single minimum?

    Each basin sends its deepest member (lowest ``depth``); the best single member is
    the one with the lowest error on these rows (chosen on them, so the comparison
    favours it). Returns both errors, their difference (single minus ensemble: > 0 when
    the ensemble is better) and a bootstrap percentile interval of the difference over
    rows.
    """
    picks = [int(np.flatnonzero(labels == b)[np.argmin(depth[labels == b])])
             for b in np.unique(labels)]
    ensemble = predictions[picks].mean(axis=0)
    errors = (predictions - y) ** 2
    single = int(errors.mean(axis=1).argmin())
    difference = errors[single] - (ensemble - y) ** 2
    rng = np.random.default_rng(seed)
    n = len(y)
    draws = rng.integers(0, n, size=(n_resamples, n))
    means = difference[draws].mean(axis=1)
    tail = (1 - confidence) / 2
    return {
        "n_basins": len(picks),
        "ensemble_loss": float(((ensemble - y) ** 2).mean()),
        "best_single_loss": float(errors[single].mean()),
        "gain": float(difference.mean()),
        "gain_ci_low": float(np.quantile(means, tail)),
        "gain_ci_high": float(np.quantile(means, 1 - tail)),
    }
