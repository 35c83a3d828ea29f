"""Train members in ensembles and extract their embeddings of every row."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch

from embaudit.config import NetworkConfig, Regime, TrainingConfig
from embaudit.resampling.plans import MemberSpec
from embaudit.training.callbacks import MemberProgress, MemberStopping
from embaudit.training.data import EnsembleDataModule
from embaudit.training.module import EnsembleRegressor
from embaudit.training.network import EnsembleMLP

#: called as members finish with (members done, members in all)
Progress = Callable[[int, int], None]
_ROWS_PER_FORWARD = 4096


@dataclass(frozen=True, eq=False)
class EnsembleFit:
    """Trained members: embeddings and predictions of all rows, diagnostics, curves."""

    member_ids: list[str]
    embeddings: np.ndarray = field(repr=False)  # (B, n, h)
    predictions: np.ndarray = field(repr=False)  # (B, n), on the transformed target scale
    diagnostics: pd.DataFrame = field(repr=False)  # one row per member
    curves: pd.DataFrame = field(repr=False)  # member_id, epoch, train_loss, validation_loss


def fit_ensemble(
    X: np.ndarray,
    y: np.ndarray,
    members: Sequence[MemberSpec],
    *,
    rows: np.ndarray,
    regime: Regime,
    training: TrainingConfig,
    network: NetworkConfig,
    holdout: np.ndarray | None = None,
    shuffle_seed: int = 0,
    progress: Progress | None = None,
) -> EnsembleFit:
    """Train ``members`` in chunks of ``training.chunk_size``.

    ``rows`` are the rows mini-batches are drawn from (members weight them); the batch
    order depends on ``shuffle_seed`` only. ``holdout`` (row indices) gives the
    held-out loss of the diagnostics.
    """
    fits = []
    size = training.chunk_size
    for start in range(0, len(members), size):
        chunk = members[start : start + size]
        callbacks: list[pl.Callback] = []
        if progress is not None:
            callbacks.append(MemberProgress(
                lambda done, s=start: progress(s + done, len(members))
            ))
        fits.append(_fit_chunk(X, y, chunk, rows, regime, training, network, holdout,
                               shuffle_seed, callbacks))
    return EnsembleFit(
        member_ids=[m.member_id for m in members],
        embeddings=np.concatenate([f.embeddings for f in fits]),
        predictions=np.concatenate([f.predictions for f in fits]),
        diagnostics=pd.concat([f.diagnostics for f in fits], ignore_index=True),
        curves=pd.concat([f.curves for f in fits], ignore_index=True),
    )


def _weighted_moments(weights: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-member weighted mean and variance: weights (B, n) against values (n, ...)."""
    total = weights.sum(axis=1, keepdims=True)
    mean = weights @ values / total
    variance = weights @ (values**2) / total - mean**2
    return mean, np.maximum(variance, 0.0)


def _fit_chunk(
    X: np.ndarray,
    y: np.ndarray,
    members: Sequence[MemberSpec],
    rows: np.ndarray,
    regime: Regime,
    training: TrainingConfig,
    network_config: NetworkConfig,
    holdout: np.ndarray | None,
    shuffle_seed: int,
    callbacks: list[pl.Callback],
) -> EnsembleFit:
    weights = np.stack([m.train_weights for m in members]).astype(np.float64)
    targets = np.stack([m.targets(y) for m in members])
    target_mean = (weights * targets).sum(1) / weights.sum(1)
    target_sd = np.sqrt((weights * (targets - target_mean[:, None]) ** 2).sum(1) / weights.sum(1))
    standardized = (targets - target_mean[:, None]) / target_sd[:, None]

    input_mean, input_var = _weighted_moments(weights, X.astype(np.float64))
    input_scale = np.where(input_var > 1e-12, 1.0 / np.sqrt(np.maximum(input_var, 1e-12)), 0.0)
    network = EnsembleMLP(
        X.shape[1],
        network_config.hidden,
        [m.seed for m in members],
        torch.from_numpy(input_mean),
        torch.from_numpy(input_scale),
    )
    regularized = regime == "regularized"
    module = EnsembleRegressor(
        network, training.learning_rate, training.weight_decay if regularized else 0.0
    )
    X_t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    targets_t = torch.from_numpy(standardized.astype(np.float32))
    data = EnsembleDataModule(
        X_t,
        targets_t,
        torch.from_numpy(weights.astype(np.float32)),
        torch.from_numpy(np.asarray(rows, dtype=np.int64)),
        training.batch_size,
        shuffle_seed,
    )
    if regularized:
        if any(m.validation is None for m in members):
            raise ValueError("regularized members need validation rows (plan them with "
                             "validation_fraction)")
        validation_mask = np.stack([m.validation for m in members])
        union = np.flatnonzero(validation_mask.any(axis=0))
        stopping = MemberStopping(
            "validation",
            patience=training.patience,
            validation=(X_t[union], targets_t[:, union],
                        torch.from_numpy(validation_mask[:, union])),
        )
    else:
        stopping = MemberStopping("train", tolerance=training.overfit_tolerance)
    trainer = _trainer(training.max_epochs, [stopping, *callbacks])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*IterableDataset.*")
        warnings.filterwarnings("ignore", message=".*treespec, LeafSpec.*")
        trainer.fit(module, datamodule=data)

    predictions, embeddings = _forward_all(network, X_t, network_config)
    predictions = predictions * target_sd[:, None] + target_mean[:, None]
    diagnostics = _diagnostics(
        members, weights, targets, predictions, embeddings, target_sd, stopping, regime, holdout
    )
    curves = _curves(members, stopping.history, stopping.stop_epoch.numpy())
    return EnsembleFit([m.member_id for m in members], embeddings, predictions, diagnostics,
                       curves)


def _trainer(max_epochs: int, callbacks: list[pl.Callback]) -> pl.Trainer:
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=max_epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
    )


@torch.no_grad()
def _forward_all(
    network: EnsembleMLP, X: torch.Tensor, config: NetworkConfig
) -> tuple[np.ndarray, np.ndarray]:
    network.eval()
    predictions, embeddings = [], []
    for start in range(0, len(X), _ROWS_PER_FORWARD):
        p, e = network(X[start : start + _ROWS_PER_FORWARD], config.embedding_layer,
                       config.pre_activation)
        predictions.append(p)
        embeddings.append(e)
    return (torch.cat(predictions, 1).double().numpy(),
            torch.cat(embeddings, 1).numpy())


def effective_rank(embedding: np.ndarray) -> float:
    """exp(entropy) of the normalised singular values of the centred embedding."""
    singular = np.linalg.svd(embedding - embedding.mean(0), compute_uv=False)
    if singular.sum() <= 0:
        return 0.0
    share = singular / singular.sum()
    share = share[share > 0]
    return float(np.exp(-(share * np.log(share)).sum()))


def _diagnostics(
    members: Sequence[MemberSpec],
    weights: np.ndarray,
    targets: np.ndarray,
    predictions: np.ndarray,
    embeddings: np.ndarray,
    target_sd: np.ndarray,
    stopping: MemberStopping,
    regime: Regime,
    holdout: np.ndarray | None,
) -> pd.DataFrame:
    squared = (predictions - targets) ** 2 / target_sd[:, None] ** 2
    records = []
    for b, member in enumerate(members):
        trained = weights[b] > 0
        validation = member.validation
        records.append({
            "member_id": member.member_id,
            "kind": member.kind,
            "regime": regime,
            "seed": member.seed,
            "epochs": int(stopping.stop_epoch[b]),
            "train_loss": float(np.average(squared[b], weights=weights[b])),
            "validation_loss": float(squared[b, validation].mean())
            if validation is not None else np.nan,
            "holdout_loss": float(squared[b, holdout].mean())
            if holdout is not None and len(holdout) else np.nan,
            "reached_target": bool(stopping.reached[b]) if regime == "overfit" else None,
            "dead_units": int((embeddings[b, trained].std(axis=0) < 1e-6).sum()),
            "effective_rank": effective_rank(embeddings[b, trained].astype(np.float64)),
        })
    return pd.DataFrame.from_records(records)


def _curves(
    members: Sequence[MemberSpec], history: list[np.ndarray], stop_epoch: np.ndarray
) -> pd.DataFrame:
    """Per-member loss curves, up to the epoch each member stopped."""
    if not history:
        return pd.DataFrame(columns=["member_id", "epoch", "train_loss", "validation_loss"])
    losses = np.stack(history)  # (epochs, 2, B)
    epochs, _, B = losses.shape
    after_stop = np.arange(1, epochs + 1)[:, None] > stop_epoch[None, :]  # (epochs, B)
    losses = np.where(after_stop[:, None, :], np.nan, losses)
    return pd.DataFrame({
        "member_id": np.repeat([m.member_id for m in members], epochs),
        "epoch": np.tile(np.arange(1, epochs + 1), B),
        "train_loss": losses[:, 0, :].T.ravel(),
        "validation_loss": losses[:, 1, :].T.ravel(),
    })
