"""Train members in chunks and extract their embeddings of every row."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from lightning_fabric.loggers import CSVLogger

from embaudit.config import NetworkConfig, TrainingConfig
from embaudit.core.members import MemberSpec, chunk_key
from embaudit.core.regimes import REGIMES
from embaudit.errors import ConfigError
from embaudit.store.ensemble import EnsembleFit
from embaudit.training.callbacks import MemberProgress, MemberStopping
from embaudit.training.compute import compute_record
from embaudit.training.data import SharedBatches
from embaudit.training.diagnostics import (
    Stops,
    loss_curves,
    member_diagnostics,
    weighted_standardizer,
)
from embaudit.training.job import TrainingJob
from embaudit.training.linear import fit_linear_members
from embaudit.training.loop import train_module
from embaudit.training.module import EnsembleRegressor
from embaudit.training.network import EnsembleMLP

__all__ = ["EnsembleFit", "Progress", "TrainingJob", "chunk_members", "combine_fits",
           "fit_ensemble", "members_per_chunk", "training_device"]

#: called as members finish with (members done, members in all)
Progress = Callable[[int, int], None]
_ROWS_PER_FORWARD = 1024
_BYTES = 4  # float32
#: parameters, gradients and Adam moments of a chunk (4 copies) stay within this
_CACHE_BUDGET_BYTES = 20 * 2**20


def members_per_chunk(n_rows: int, n_features: int, network: NetworkConfig,
                      training: TrainingConfig, workers: int = 1) -> int:
    """How many members train together: the config's chunk size, else what fits.

    What fits is the smaller of the memory budget and a cache budget. Per member the
    memory holds its parameters with their gradient, optimizer state, scaled first
    layer and kept copy (~8 copies); per row its targets and weights, their shuffled
    copies of the epoch, its gradient factors and errors (and their float64 loss at the
    epoch's end: ~14 floats), its embedding and prediction; and the activations of a
    forward pass over a block of rows. The cache budget keeps the parameters, gradients
    and Adam moments a step streams through near the cores: past it every step pays
    main-memory bandwidth and throughput per member drops (measured in
    ``benchmarks/training_throughput.py``); ``workers`` processes training side by side
    share it.
    """
    if training.optimizer == "lbfgs":
        return 1
    if training.chunk_size is not None:
        return training.chunk_size
    widths = (n_features, *network.hidden, 1)
    parameters = sum(a * b + b for a, b in itertools.pairwise(widths))
    per_member = _BYTES * (8 * parameters + n_rows * (14 + network.hidden[-1])
                           + 3 * _ROWS_PER_FORWARD * sum(network.hidden))
    by_memory = int(training.memory_budget_mb * 2**20 // per_member)
    by_cache = int(_CACHE_BUDGET_BYTES / workers // (4 * _BYTES * parameters))
    return max(1, min(by_memory, by_cache))


def chunk_members(members: Sequence[MemberSpec], shape: tuple[int, int],
                  network: NetworkConfig, training: TrainingConfig, workers: int = 1,
                  *, spread: bool = False) -> list[list[MemberSpec]]:
    """Members in as few chunks as :func:`members_per_chunk` allows, their sizes within
    one of each other (no tiny last chunk), and for several ``workers`` a multiple of
    their number of chunks (none idles while the others finish).

    Members that fit one chunk stay one (locally it trains in this process) unless
    ``spread`` asks for one chunk per worker at least: a cluster's other workers would
    idle, and its progress would only show the whole regime at its end. A configured
    ``chunk_size`` is kept as it is.
    """
    if not members:
        return []
    largest = members_per_chunk(shape[0], shape[1], network, training, workers)
    n_chunks = -(-len(members) // largest)
    if training.chunk_size is None and (n_chunks > 1 or spread):
        n_chunks = min(len(members), -(-n_chunks // workers) * workers)
    return [[members[i] for i in part]
            for part in np.array_split(np.arange(len(members)), n_chunks)]


def fit_ensemble(job: TrainingJob, members: Sequence[MemberSpec],
                 progress: Progress | None = None) -> EnsembleFit:
    """Train ``members`` on ``job`` (in chunks) and embed every row with each of them.

    The networks' loss is the censored one (``job.training.loss``) where the job has
    events; the linear regimes fit the lifespans as given. ``progress`` hears (members
    done, members in all) as members finish.
    """
    spec = REGIMES[job.regime]
    if spec.linear_embedding is not None:
        width = job.network.hidden[job.network.embedding_layer]
        embeddings, predictions = fit_linear_members(job.X, job.y, members, width,
                                                     spec.linear_embedding)
        if progress is not None:
            progress(len(members), len(members))
        ids = [m.member_id for m in members]
        return EnsembleFit(ids, embeddings, predictions,
                           member_diagnostics(job, members, predictions, embeddings),
                           loss_curves([], [], np.zeros(0)),
                           compute=compute_record(job, ids))
    fits = []
    start = 0
    for chunk in chunk_members(members, job.X.shape, job.network, job.training):
        callbacks: list[Any] = []
        if progress is not None:
            callbacks.append(MemberProgress(
                lambda done, s=start: progress(s + done, len(members))
            ))
        logger = None if job.log_dir is None else CSVLogger(
            str(job.log_dir), name=job.regime,
            version=f"chunk_{chunk_key([m.member_id for m in chunk])}")
        fits.append(_fit_chunk(job, chunk, callbacks, logger))
        start += len(chunk)
    return combine_fits(fits, [m.member_id for m in members])


def combine_fits(fits: Sequence[EnsembleFit], ids: Sequence[str]) -> EnsembleFit:
    """The members ``ids`` of several fits (chunks, finished in any order), in that order.

    Each table is joined once and reordered with one take (not member by member: a
    concatenation of one-row frames costs pandas a type check per frame and column). One
    fit already in that order comes back as it is, not copied.
    """
    if len(fits) == 1 and list(fits[0].member_ids) == list(ids):
        return fits[0]
    position = {m: i for i, m in enumerate(m for fit in fits for m in fit.member_ids)}
    take = np.array([position[m] for m in ids], dtype=np.int64)
    order = {m: i for i, m in enumerate(ids)}
    curves = pd.concat([fit.curves for fit in fits], ignore_index=True)
    return EnsembleFit(
        member_ids=list(ids),
        embeddings=np.concatenate([fit.embeddings for fit in fits])[take],
        predictions=np.concatenate([fit.predictions for fit in fits])[take],
        diagnostics=pd.concat([fit.diagnostics for fit in fits], ignore_index=True)
        .take(take).reset_index(drop=True),
        curves=curves.take(np.argsort(curves["member_id"].map(order).to_numpy(),
                                      kind="stable")).reset_index(drop=True),
        state={name: np.concatenate([fit.state[name] for fit in fits])[take]
               for name in (fits[0].state if fits else {})},
        compute=pd.concat([fit.compute for fit in fits], ignore_index=True),
    )


def _fit_chunk(job: TrainingJob, members: Sequence[MemberSpec],
               callbacks: list[Any], logger: CSVLogger | None) -> EnsembleFit:
    """Train one chunk of members together (one Fabric loop) and embed every row."""
    X, y, training, network_config = job.X, job.y, job.training, job.network
    events = job.loss_events()
    weights = np.stack([m.train_weights for m in members]).astype(np.float64)
    targets = np.stack([m.targets(y) for m in members])
    target_mean = (weights * targets).sum(1) / weights.sum(1)
    target_sd = np.sqrt((weights * (targets - target_mean[:, None]) ** 2).sum(1)
                        / weights.sum(1))
    standardized = (targets - target_mean[:, None]) / target_sd[:, None]

    input_mean, input_scale = weighted_standardizer(X.astype(np.float64), weights)
    spec = REGIMES[job.regime]
    device = training_device(training)
    network = EnsembleMLP(
        X.shape[1],
        network_config.hidden,
        [m.seed for m in members],
        torch.from_numpy(input_mean),
        torch.from_numpy(input_scale),
        dropout=training.dropout if spec.dropout else 0.0,
        batch_norm=spec.batch_norm,
    ).to(device)
    module = EnsembleRegressor(network, training,
                               training.weight_decay if spec.weight_decay else 0.0,
                               training.max_epochs,
                               input_center=torch.from_numpy(X.mean(0, dtype=np.float64)))
    X_t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)
    member_events = None if events is None else np.stack([m.targets(events) for m in members])
    targets_t = torch.from_numpy(standardized.astype(np.float32) if member_events is None
                                 else np.stack([standardized, member_events], -1)
                                 .astype(np.float32)).to(device)
    weights_t = torch.from_numpy(weights.astype(np.float32)).to(device)
    batches = SharedBatches(
        module.training_inputs(X_t), targets_t, weights_t,
        torch.from_numpy(np.asarray(job.rows, dtype=np.int64)),
        training.batch_size or len(job.rows), job.shuffle_seed,
    )
    ids = [m.member_id for m in members]
    if spec.early_stopping:
        if any(m.validation is None for m in members):
            raise ValueError(f"{job.regime} members stop early and need validation rows (plan "
                             "them with validation_fraction)")
        validation_mask = np.stack([m.validation for m in members])
        union = np.flatnonzero(validation_mask.any(axis=0))
        stopping = MemberStopping(
            "validation", patience=training.patience, member_ids=ids,
            target=training.stop_at_validation_loss,
            validation=(X_t[union], targets_t[:, union],
                        torch.from_numpy(validation_mask[:, union]).to(device)),
        )
    else:
        fit_rows = np.flatnonzero(weights.any(axis=0))
        stopping = MemberStopping(
            "train", tolerance=training.overfit_tolerance, member_ids=ids,
            training_rows=(X_t[fit_rows], targets_t[:, fit_rows], weights_t[:, fit_rows])
            if spec.training_loss_in_eval_mode else None,
        )
    train_module(module, batches, [stopping, *callbacks], device, logger)

    predictions, embeddings = _forward_all(network, X_t, network_config)
    predictions = predictions * target_sd[:, None] + target_mean[:, None]
    diagnostics = member_diagnostics(job, members, predictions, embeddings, Stops(
        epochs=stopping.stop_epoch.numpy(), diverged=stopping.diverged.numpy(),
        reached=stopping.reached.numpy() if spec.stops_on_training_loss
        or training.stop_at_validation_loss is not None else None))
    curves = loss_curves(ids, stopping.history, stopping.stop_epoch.numpy())
    state = {k: v.detach().cpu().numpy().copy() for k, v in network.member_state().items()}
    state.update(input_mean=network.input_mean.cpu().numpy().copy(),  # as the network used
                 input_scale=network.input_scale.cpu().numpy().copy(),
                 target_mean=target_mean, target_sd=target_sd)
    return EnsembleFit(ids, embeddings, predictions, diagnostics, curves, state,
                       compute_record(job, ids))


def training_device(training: TrainingConfig) -> torch.device:
    """The device ``training.device`` names, refused where torch cannot reach it."""
    device = torch.device(training.device)
    if device.type == "cuda" and not (torch.cuda.is_available()
                                      and (device.index or 0) < torch.cuda.device_count()):
        found = torch.cuda.device_count() if torch.cuda.is_available() else 0
        raise ConfigError(
            f"training.device={training.device!r} (--device), but torch finds "
            f"{found} CUDA device(s) here (torch {torch.__version__}); train on the CPU "
            "with --device cpu, or install a CUDA build of torch on a machine with a GPU.")
    return device


@torch.no_grad()
def _forward_all(
    network: EnsembleMLP, X: torch.Tensor, config: NetworkConfig
) -> tuple[np.ndarray, np.ndarray]:
    network.eval()
    predictions, embeddings = [], []
    for start in range(0, len(X), _ROWS_PER_FORWARD):
        p, e = network.embed(X[start : start + _ROWS_PER_FORWARD], config.embedding_layer,
                             config.pre_activation)
        predictions.append(p)
        embeddings.append(e)
    return (torch.cat(predictions, 1).double().cpu().numpy(),
            torch.cat(embeddings, 1).cpu().numpy())
