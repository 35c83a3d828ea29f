"""Mini-batches shared by all members of an ensemble, epoch by epoch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import Tensor


class Batch(NamedTuple):
    """One mini-batch: rows ``x`` (batch × p), per-member ``targets`` and row ``weights``
    (B × batch, targets B × batch × 2 when censored), and ``rows``, its columns in the
    epoch's :class:`Epoch` arrays."""

    x: Tensor
    targets: Tensor
    weights: Tensor
    rows: slice


class Epoch:
    """One epoch's rows in their shuffled order (gathered once: fewer small copies than
    one gather per batch), iterated as :class:`Batch` views of ``batch_size`` rows."""

    def __init__(self, x: Tensor, targets: Tensor, weights: Tensor, batch_size: int) -> None:
        self.x, self.targets, self.weights = x, targets, weights
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        for start in range(0, len(self.x), self.batch_size):
            rows = slice(start, start + self.batch_size)
            yield Batch(self.x[rows], self.targets[:, rows], self.weights[:, rows], rows)

    def batch_sums(self, values: Tensor) -> Tensor:
        """Per member, the sum of ``values`` (B × rows, in this epoch's order) over each
        batch's rows (B × batches): each sum over one batch's rows, as a per-batch
        reduction would take it, whatever the number of members."""
        n, size = len(self.x), self.batch_size
        padded = torch.nn.functional.pad(values, (0, len(self) * size - n))
        return padded.view(len(padded), len(self), size).sum(-1)

    def batch_totals(self) -> Tensor:
        """Each row's batch's total weight, per member (B × rows)."""
        totals = self.batch_sums(self.weights)
        return totals.repeat_interleave(self.batch_size, dim=1)[:, : len(self.x)]


class SharedBatches:
    """Shuffled mini-batches of the trainable rows, the same for every member.

    The order depends on ``seed`` and the epoch only, never on the members, so a member
    sees the same batches whether it trains alone or inside any ensemble. The tensors
    already live on the training device: no ``DataLoader`` (its worker processes could
    only add copies).
    """

    def __init__(
        self, X: Tensor, targets: Tensor, weights: Tensor, rows: Tensor, batch_size: int,
        seed: int,
    ) -> None:
        self.X, self.targets, self.weights = X, targets, weights
        self.rows, self.batch_size, self.seed = rows, batch_size, seed

    def epoch(self, epoch: int) -> Epoch:
        """The mini-batches of epoch ``epoch`` (counted from 0)."""
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order = self.rows[torch.randperm(len(self.rows), generator=generator)].to(
            self.X.device)
        return Epoch(self.X[order], self.targets[:, order], self.weights[:, order],
                     self.batch_size)
