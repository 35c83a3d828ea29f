"""Do different minima specialise on different rows, and does an ensemble of basins
beat the best single minimum? Each question is answered against a null.

Rows are the holdout, cut in two halves at random: *selection* rows (a gate is learned
there, the best single minimum is chosen there) and *test* rows (every comparison is
made there), so nothing is chosen on the rows that judge it.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

#: inputs the gate reads: the features' leading principal components
GATE_COMPONENTS = 5


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


def selection_rows(n: int, seed: int) -> np.ndarray:
    """A boolean mask of the selection half of ``n`` holdout rows."""
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[: n // 2]] = True
    return mask


def share_test(predictions: np.ndarray, y: np.ndarray, n_shuffles: int = 999,
               seed: int = 0) -> dict[str, float]:
    """Are some minima best on more rows than others? χ² of the best-member counts
    against uniform, its p from per-row shuffles of the minimum labels (each row's
    best minimum then equally likely to be any). A small p says the minima differ, not
    that they specialise: a better minimum is best more often (:func:`gate_test`)."""
    M, n = predictions.shape
    counts = np.bincount(np.abs(predictions - y).argmin(axis=0), minlength=M)
    rng = np.random.default_rng(seed)
    null = np.stack([np.bincount(rng.integers(0, M, n), minlength=M)
                     for _ in range(n_shuffles)])
    expected = n / M
    chi2 = ((counts - expected) ** 2).sum() / expected
    null_chi2 = ((null - expected) ** 2).sum(axis=1) / expected
    return {"share_chi2": float(chi2),
            "share_p": float((1 + (null_chi2 >= chi2).sum()) / (1 + n_shuffles)),
            "largest_share": float(counts.max() / n)}


def gate_test(predictions: np.ndarray, y: np.ndarray, x: np.ndarray, selection: np.ndarray,
              n_shuffles: int = 99, confidence: float = 0.95, seed: int = 0
              ) -> dict[str, float]:
    """Specialisation: does knowing a row tell which minimum to trust?

    A gate (multinomial logistic regression on the inputs' leading principal
    components) learns on the selection rows which minimum is best; on the test rows the
    gated prediction is compared with the single minimum best on the selection rows.
    ``gate_gain`` (single minus gated squared error, > 0 when the gate helps) has a
    bootstrap interval over test rows and a p-value against gates learned on the
    labels shuffled across rows (as often best as before, but unrelated to the row: a
    gate that can only learn which minimum is best overall).
    """
    test = ~selection
    best_single = _best_on(predictions, y, selection)
    components = PCA(n_components=min(GATE_COMPONENTS, x.shape[1], int(selection.sum()) - 1),
                     random_state=seed).fit(x[selection])
    z_select, z_test = components.transform(x[selection]), components.transform(x[test])
    labels = np.abs(predictions[:, selection] - y[selection]).argmin(axis=0)
    single_error = (predictions[best_single, test] - y[test]) ** 2

    def gain_of(labels: np.ndarray) -> np.ndarray:
        if len(np.unique(labels)) < 2:
            chosen = np.full(int(test.sum()), labels[0])
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an unreached iteration limit is harmless
                gate = LogisticRegression(C=1.0, max_iter=200).fit(z_select, labels)
            chosen = gate.predict(z_test)
        gated = predictions[chosen, np.flatnonzero(test)]
        return single_error - (gated - y[test]) ** 2

    difference = gain_of(labels)
    rng = np.random.default_rng(seed)
    # the null keeps how often each minimum is best and breaks its link to the row
    null = np.array([gain_of(rng.permutation(labels)).mean() for _ in range(n_shuffles)])
    low, high = _row_interval(difference, confidence, rng)
    return {"gate_gain": float(difference.mean()), "gate_gain_ci_low": low,
            "gate_gain_ci_high": high,
            "gate_p": float((1 + (null >= difference.mean()).sum()) / (1 + n_shuffles))}


def basin_ensemble_test(predictions: np.ndarray, y: np.ndarray, labels: np.ndarray,
                        depth: np.ndarray, selection: np.ndarray, n_random: int = 999,
                        confidence: float = 0.95, seed: int = 0) -> dict[str, object]:
    """Does averaging one minimum per basin (its deepest) beat (a) the single minimum
    best on the selection rows and (b) ensembles of as many minima drawn at random?

    On the test rows: ``gain`` (single minus basin ensemble, > 0 when the ensemble is
    better) with a bootstrap interval over rows; ``random_p``: the share of random
    same-size ensembles at least as good (with one basin there is nothing to test and
    ``reason`` says so; with every minimum its own basin ``random_p`` is missing and
    ``reason`` says why).
    """
    test = ~selection
    picks = [int(np.flatnonzero(labels == b)[np.argmin(depth[labels == b])])
             for b in np.unique(labels)]
    errors = (predictions[:, test] - y[test]) ** 2
    best_single = _best_on(predictions, y, selection)
    ensemble_error = (predictions[picks][:, test].mean(axis=0) - y[test]) ** 2
    row: dict[str, object] = {
        "n_basins": len(picks), "ensemble_loss": float(ensemble_error.mean()),
        "best_single_loss": float(errors[best_single].mean()),
        "gain": np.nan, "gain_ci_low": np.nan, "gain_ci_high": np.nan,
        "random_loss": np.nan, "random_p": np.nan, "reason": ""}
    if len(picks) < 2:
        row["reason"] = "one basin: its ensemble is a single minimum"
        return row
    every_one = len(picks) == len(predictions)
    if every_one:
        row["reason"] = "every minimum its own basin: random ensembles are the same minima"
    rng = np.random.default_rng(seed)
    difference = errors[best_single] - ensemble_error
    low, high = _row_interval(difference, confidence, rng)
    M = len(predictions)
    random_losses = np.array([
        ((predictions[rng.choice(M, len(picks), replace=False)][:, test].mean(axis=0)
          - y[test]) ** 2).mean() for _ in range(n_random)])
    row.update(gain=float(difference.mean()), gain_ci_low=low, gain_ci_high=high,
               random_loss=float(random_losses.mean()),
               random_p=np.nan if every_one else
               float((1 + (random_losses <= ensemble_error.mean()).sum()) / (1 + n_random)))
    return row


def _best_on(predictions: np.ndarray, y: np.ndarray, rows: np.ndarray) -> int:
    """The minimum with the lowest squared error on ``rows`` (a mask)."""
    return int(((predictions[:, rows] - y[rows]) ** 2).mean(axis=1).argmin())


def _row_interval(values: np.ndarray, confidence: float, rng: np.random.Generator,
                  n_resamples: int = 1000) -> tuple[float, float]:
    """Bootstrap percentile interval of the mean of ``values`` over rows."""
    means = values[rng.integers(0, len(values), (n_resamples, len(values)))].mean(axis=1)
    tail = (1 - confidence) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))
