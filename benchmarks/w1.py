"""The reference workload W1 and its per-member baselines, for
``training_throughput.py``: n=2000, p=500, a 500 → 64 → 16 → 1 ReLU regressor, Adam (lr
1e-3), batch 64, bootstrap row weights; one Lightning Trainer per member (a plain
LightningModule), a plain PyTorch loop per member, scikit-learn's MLPRegressor per member
(bootstrap rows repeated)."""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import pytorch_lightning as pl
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from embaudit.core.members import MemberSpec
from embaudit.resampling.plans import member_seed

N, P, HIDDEN, BATCH, LR = 2000, 500, (64, 16), 64, 1e-3


def workload(n_members: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray,
                                                     list[MemberSpec]]:
    """W1's data and ``n_members`` bootstrap members over all n rows."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, P)).astype(np.float32)
    y = X[:, :10] @ rng.standard_normal(10) + np.tanh(X[:, 10] * X[:, 11]) \
        + 0.5 * rng.standard_normal(N)
    members = [
        MemberSpec(kind="bootstrap", regime="overfit", index=i,
                   seed=member_seed(seed, "bootstrap", i),
                   weights=np.bincount(rng.integers(0, N, N), minlength=N))
        for i in range(n_members)
    ]
    return X, y, members


def _plain_network() -> nn.Sequential:
    return nn.Sequential(nn.Linear(P, HIDDEN[0]), nn.ReLU(), nn.Linear(*HIDDEN), nn.ReLU(),
                         nn.Linear(HIDDEN[1], 1))


def _member_tensors(X: np.ndarray, y: np.ndarray, member: MemberSpec):
    mean, sd = X.mean(0), X.std(0)
    Xs = torch.from_numpy((X - mean) / sd)
    t = torch.from_numpy(((y - y.mean()) / y.std()).astype(np.float32))
    return Xs, t, torch.from_numpy(member.weights.astype(np.float32))


class _Regressor(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.network = _plain_network()

    def training_step(self, batch, batch_idx):
        x, t, w = batch
        loss = (w * (self.network(x).squeeze(1) - t) ** 2).sum() / w.sum().clamp_min(1)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=LR)


def lightning_seconds(n_members: int, epochs: int) -> float:
    X, y, members = workload(n_members)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    start = time.perf_counter()
    for member in members:
        torch.manual_seed(member.seed)
        loader = DataLoader(TensorDataset(*_member_tensors(X, y, member)), batch_size=BATCH,
                            shuffle=True)
        trainer = pl.Trainer(accelerator="cpu", max_epochs=epochs, logger=False,
                             enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(_Regressor(), loader)
    return (time.perf_counter() - start) / n_members


def torch_seconds(n_members: int, epochs: int) -> float:
    X, y, members = workload(n_members)
    start = time.perf_counter()
    for member in members:
        torch.manual_seed(member.seed)
        Xs, t, w = _member_tensors(X, y, member)
        network = _plain_network()
        optimizer = torch.optim.Adam(network.parameters(), lr=LR)
        for _ in range(epochs):
            for batch in torch.randperm(N).split(BATCH):
                wb = w[batch]
                loss = (wb * (network(Xs[batch]).squeeze(1) - t[batch]) ** 2).sum() \
                    / wb.sum().clamp_min(1)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    return (time.perf_counter() - start) / n_members


def sklearn_seconds(n_members: int, epochs: int) -> float:
    X, y, members = workload(n_members)
    start = time.perf_counter()
    for member in members:
        rows = np.repeat(np.arange(N), member.weights)  # bootstrap rows, repeated
        Xs = (X - X.mean(0)) / X.std(0)
        model = MLPRegressor(hidden_layer_sizes=HIDDEN, solver="adam", learning_rate_init=LR,
                             batch_size=BATCH, max_iter=epochs, alpha=0.0, tol=0.0,
                             n_iter_no_change=epochs + 1, random_state=member.seed % 2**31)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(Xs[rows], y[rows])
    return (time.perf_counter() - start) / n_members
