"""Training diagnostics per member: losses, stopping, dead units, rank, linear baseline.

Losses are mean squared errors in units of the member's target variance on its
training rows (0: perfect, 1: no better than predicting the mean).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import RidgeCV

from embaudit.core.members import MemberSpec
from embaudit.training.job import TrainingJob
from embaudit.training.survival import Ties, cox_loss

#: axes whose spread on the trained rows is below this are dead units
DEAD_UNIT_TOLERANCE = 1e-6
RIDGE_ALPHAS = np.logspace(-2, 5, 15)

#: columns of the per-member diagnostics table
MEMBER_COLUMNS = (
    "member_id", "kind", "regime", "seed",
    "epochs",  # epochs trained before the member stopped (0 for the linear regime)
    "train_loss", "validation_loss", "holdout_loss",
    "reached_target",  # overfit regime: training loss fell below the tolerance
    "diverged",  # its training or validation loss turned NaN or infinite: it stopped there
    "dead_units", "effective_rank",
    "ridge_holdout_loss",  # a ridge fit on the member's own rows and targets
    "no_better_than_linear",  # holdout_loss >= ridge_holdout_loss
)


@dataclass(frozen=True, eq=False)
class Stops:
    """How each member's network training ended (arrays over the members, in order)."""

    epochs: np.ndarray  # epochs trained before it stopped
    diverged: np.ndarray  # stopped because its loss was no longer finite
    reached: np.ndarray | None = None  # reached its target (where the regime has one)


def effective_rank(embedding: np.ndarray) -> float:
    """exp(entropy) of the normalised singular values of the centred embedding."""
    singular = np.linalg.svd(embedding - embedding.mean(0), compute_uv=False)
    if singular.sum() <= 0:
        return 0.0
    share = singular / singular.sum()
    share = share[share > 0]
    return float(np.exp(-(share * np.log(share)).sum()))


def weighted_standardizer(X: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and inverse standard deviation of X's columns on the weighted rows.

    Constant columns get scale 0 (they carry nothing). ``weights`` is (n,) or (B, n);
    the results are (p,) or (B, p). Each member's statistics come from its own rows by
    two-pass sums, so they do not depend on which members are computed together (nor
    on BLAS threads), and stay accurate for features far from zero.
    """
    weights = np.asarray(weights, dtype=np.float64)
    single = weights.ndim == 1
    means, scales = [], []
    for member in np.atleast_2d(weights):
        rows = member > 0
        w = member[rows, None]
        x = X[rows].astype(np.float64)
        mean = (w * x).sum(axis=0) / w.sum()
        variance = (w * (x - mean) ** 2).sum(axis=0) / w.sum()
        means.append(mean)
        scales.append(np.where(variance > 1e-12,
                               1.0 / np.sqrt(np.maximum(variance, 1e-12)), 0.0))
    if single:
        return means[0], scales[0]
    return np.stack(means), np.stack(scales)


def ridge_holdout_loss(
    X: np.ndarray, targets: np.ndarray, weights: np.ndarray, holdout: np.ndarray
) -> float:
    """Holdout MSE (target-variance units) of a ridge fit on the member's own rows."""
    trained = weights > 0
    mean, scale = weighted_standardizer(X[trained], weights[trained])
    Z = (X - mean) * scale
    ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(Z[trained], targets[trained],
                                            sample_weight=weights[trained])
    variance = np.average((targets[trained] - np.average(targets[trained],
                                                         weights=weights[trained])) ** 2,
                          weights=weights[trained])
    return float(np.mean((ridge.predict(Z[holdout]) - targets[holdout]) ** 2) / variance)


def _rows_loss(squared: np.ndarray, prediction: np.ndarray, targets: np.ndarray,
               events: np.ndarray | None, ties: Ties | None, rows: np.ndarray,
               weights: np.ndarray) -> float:
    """A member's loss on ``rows`` (weighted): its mean squared error, or under the Cox
    loss (``ties``) its negative log partial likelihood per failure."""
    if ties is None:
        return float(np.average(squared[rows], weights=weights))
    failed = np.ones(len(targets)) if events is None else events
    inputs = [torch.from_numpy(np.asarray(a, dtype=np.float64)[None]) for a in
              (prediction[rows], targets[rows], failed[rows], weights)]
    return float(cox_loss(*inputs, ties=ties)[0])


def member_diagnostics(
    job: TrainingJob,
    members: Sequence[MemberSpec],
    predictions: np.ndarray,
    embeddings: np.ndarray,
    stops: Stops | None = None,
) -> pd.DataFrame:
    """One row per member; see :data:`MEMBER_COLUMNS`.

    ``stops`` None: no network was trained (the linear regimes, which fit the lifespans
    as given: no epochs, and the flags of training are null). The ridge baseline is
    fitted for members trained on the real lifespans (not for permutation members,
    whose holdout loss measures nothing). With the job's censored ``events``, a
    censored row's error counts only where the prediction falls short of its time.
    Cox networks predict no lifespan: their losses are the negative log partial
    likelihood per failure, and no ridge baseline is fitted.
    """
    X, y, regime, holdout = job.X, job.y, job.regime, job.holdout
    events = None if stops is None else job.loss_events()
    cox_ties: Ties | None = job.training.cox_ties \
        if stops is not None and job.training.loss == "cox" else None
    records = []
    for b, member in enumerate(members):
        weights = member.train_weights.astype(np.float64)
        targets = member.targets(y)
        trained = weights > 0
        variance = np.average((targets - np.average(targets, weights=weights)) ** 2,
                              weights=weights)
        error = predictions[b] - targets
        if events is not None:
            error = np.where(member.targets(events) > 0, error, np.minimum(error, 0.0))
        squared = error**2 / variance
        has_holdout = holdout is not None and len(holdout) > 0
        loss_on = partial(_rows_loss, squared, predictions[b], targets,
                          None if events is None else member.targets(events), cox_ties)
        everything = np.arange(len(y))
        validation = None if member.validation is None else \
            np.flatnonzero(member.validation) if member.validation.dtype == bool \
            else member.validation
        holdout_loss = loss_on(holdout, np.ones(len(holdout))) if has_holdout else np.nan
        ridge = (ridge_holdout_loss(X, targets, weights, holdout)
                 if has_holdout and member.kind != "permutation" and cox_ties is None
                 else np.nan)
        records.append({
            "member_id": member.member_id,
            "kind": member.kind,
            "regime": regime,
            "seed": member.seed,
            "epochs": int(stops.epochs[b]) if stops is not None else 0,
            "train_loss": loss_on(everything, weights),
            "validation_loss": loss_on(validation, np.ones(len(validation)))
            if validation is not None else np.nan,
            "holdout_loss": holdout_loss,
            "reached_target": bool(stops.reached[b])
            if stops is not None and stops.reached is not None else None,
            "diverged": bool(stops.diverged[b]) if stops is not None else None,
            "dead_units": int((embeddings[b, trained].std(axis=0)
                               < DEAD_UNIT_TOLERANCE).sum()),
            "effective_rank": effective_rank(embeddings[b, trained].astype(np.float64)),
            "ridge_holdout_loss": ridge,
            "no_better_than_linear": bool(holdout_loss >= ridge) if np.isfinite(ridge)
            else None,
        })
    frame = pd.DataFrame.from_records(records, columns=list(MEMBER_COLUMNS))
    # nullable booleans: a flag that does not apply is <NA>, and stores as BOOLEAN
    return frame.astype({"reached_target": "boolean", "diverged": "boolean",
                         "no_better_than_linear": "boolean",
                         "epochs": "int64", "dead_units": "int64", "seed": "int64"})


def loss_curves(member_ids: Sequence[str], history: list[np.ndarray],
                stop_epoch: np.ndarray) -> pd.DataFrame:
    """Per-member loss curves, up to the epoch each member stopped (so a member's curve
    is the same whichever chunk it trained in)."""
    frame = pd.DataFrame({
        "member_id": pd.Series(dtype="string"), "epoch": pd.Series(dtype="int64"),
        "train_loss": pd.Series(dtype="float64"),
        "validation_loss": pd.Series(dtype="float64"),
    })
    if not history:
        return frame
    losses = np.stack(history).astype(np.float64)  # (epochs, 2, B)
    epochs, _, B = losses.shape
    epoch = np.tile(np.arange(1, epochs + 1), B)
    keep = epoch <= np.repeat(stop_epoch, epochs)
    return pd.DataFrame({
        "member_id": pd.array(np.repeat(list(member_ids), epochs)[keep], dtype="string"),
        "epoch": epoch[keep].astype(np.int64),
        "train_loss": losses[:, 0, :].T.ravel()[keep],
        "validation_loss": losses[:, 1, :].T.ravel()[keep],
    })
