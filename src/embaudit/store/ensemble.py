"""What training returns and the store gives back: trained members as one value."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True, eq=False)
class EnsembleFit:
    """Trained members, in ``member_ids`` order: embeddings and predictions of every row,
    diagnostics, loss curves, network weights, and how each chunk was computed. What
    training returns and what :meth:`AuditStore.read_members` gives back (defined in
    the store, below training)."""

    member_ids: list[str]
    embeddings: np.ndarray = field(repr=False)  # (B, n, h)
    predictions: np.ndarray = field(repr=False)  # (B, n), on the transformed target scale
    diagnostics: pd.DataFrame = field(repr=False)  # training.diagnostics.MEMBER_COLUMNS
    curves: pd.DataFrame = field(repr=False)  # member_id, epoch, train_loss, validation_loss
    #: per-member tensors, member dim first: the network's parameters and running
    #: statistics, its input standardization and target scaling (empty for linear)
    state: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    #: one row per chunk: regime, chunk, members and how it was computed
    #: (``store.compute.COMPUTE_KEYS``)
    compute: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
