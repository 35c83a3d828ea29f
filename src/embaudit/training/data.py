"""Mini-batches shared by all members of an ensemble."""

from __future__ import annotations

from collections.abc import Iterator

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset


class SharedBatches(IterableDataset):
    """Shuffled mini-batches of the trainable rows: ``(x, targets, weights)``.

    The order depends on ``seed`` and the epoch only, never on the members, so a
    member sees the same batches whether it trains alone or inside any ensemble.
    """

    def __init__(
        self, X: Tensor, targets: Tensor, weights: Tensor, rows: Tensor, batch_size: int,
        seed: int,
    ) -> None:
        super().__init__()
        self.X, self.targets, self.weights = X, targets, weights
        self.rows, self.batch_size, self.seed = rows, batch_size, seed
        self.epoch = 0

    def __len__(self) -> int:
        return -(-len(self.rows) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        self.epoch += 1
        order = self.rows[torch.randperm(len(self.rows), generator=generator)]
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            yield self.X[index], self.targets[:, index], self.weights[:, index]


class EnsembleDataModule(pl.LightningDataModule):
    """Holds the inputs, per-member targets and per-member row weights."""

    def __init__(
        self, X: Tensor, targets: Tensor, weights: Tensor, rows: Tensor, batch_size: int,
        seed: int,
    ) -> None:
        super().__init__()
        self.batches = SharedBatches(X, targets, weights, rows, batch_size, seed)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.batches, batch_size=None, num_workers=0)
