"""What training members needs besides the members themselves, as one value.

The pipeline, :func:`~embaudit.training.execution.train_members`,
:func:`~embaudit.training.fit.fit_ensemble` and one chunk's fit all read the same data
and settings; they pass this object down whole instead of ten arguments each.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

import numpy as np

from embaudit.config import NetworkConfig, TrainingConfig
from embaudit.core.regimes import TrainedRegime


@dataclass(frozen=True, eq=False)
class TrainingJob:
    """The data and settings a regime's members train with.

    ``rows`` are the rows mini-batches are drawn from (members weight them); the batch
    order depends on ``shuffle_seed`` only. ``holdout`` (row indices) gives the
    held-out losses of the diagnostics. ``events`` (1 failed, 0 censored) makes the
    networks' loss the censored one (``training.loss``); a permutation member permutes
    (lifespan, event) pairs together. ``log_dir`` receives Lightning CSV logs of the
    training curves (local training only).
    """

    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    _: KW_ONLY
    rows: np.ndarray = field(repr=False)
    regime: TrainedRegime
    training: TrainingConfig
    network: NetworkConfig
    holdout: np.ndarray | None = field(default=None, repr=False)
    shuffle_seed: int = 0
    events: np.ndarray | None = field(default=None, repr=False)
    log_dir: Path | None = None

    def loss_events(self) -> np.ndarray | None:
        """The events the networks' loss reads: none under the MSE (lifespans as given),
        and under the Cox loss without events every lifespan a failure time."""
        if self.training.loss == "mse":
            return None
        if self.events is None and self.training.loss == "cox":
            return np.ones(len(self.y))
        return self.events
