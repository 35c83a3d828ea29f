"""Mini-batches shared by all members of an ensemble."""

from __future__ import annotations

from collections.abc import Iterator

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import IterableDataset

Batch = tuple[Tensor, Tensor, Tensor]  # x (batch × p), targets (B × batch), weights (B × batch)


class MiniBatches:
    """A group of mini-batches, handed to one Lightning step as an opaque object: the
    tensors already live on the training device, so Lightning need not walk them (it
    walks lists and tuples, element by element, on every step)."""

    __slots__ = ("batches",)

    def __init__(self, batches: list[Batch]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[Batch]:
        return iter(self.batches)


class SharedBatches(IterableDataset):
    """Shuffled mini-batches of the trainable rows, ``group`` of them per item
    (by default a whole epoch's: one Lightning step per epoch).

    Each mini-batch is ``(x, targets, weights)``. The order depends on ``seed`` and the
    epoch only, never on the members, so a member sees the same batches whether it
    trains alone or inside any ensemble. Grouping only decides how many updates one
    Lightning step runs.
    """

    def __init__(
        self, X: Tensor, targets: Tensor, weights: Tensor, rows: Tensor, batch_size: int,
        seed: int, group: int | None = None,
    ) -> None:
        super().__init__()
        self.X, self.targets, self.weights = X, targets, weights
        n_batches = -(-len(rows) // batch_size)
        self.rows, self.batch_size, self.seed = rows, batch_size, seed
        self.group = n_batches if group is None else group
        self.epoch = 0

    def __len__(self) -> int:
        batches = -(-len(self.rows) // self.batch_size)
        return -(-batches // self.group)

    def __iter__(self) -> Iterator[MiniBatches]:
        # a generator: ``iter()`` alone (Lightning's check that the loader iterates)
        # draws no epoch
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        self.epoch += 1
        order = self.rows[torch.randperm(len(self.rows), generator=generator)].to(
            self.X.device)
        # one gather per epoch, then views: fewer small copies than one per batch
        batches = list(zip(self.X[order].split(self.batch_size),
                           self.targets[:, order].split(self.batch_size, dim=1),
                           self.weights[:, order].split(self.batch_size, dim=1), strict=True))
        for start in range(0, len(batches), self.group):
            yield MiniBatches(batches[start : start + self.group])


class EnsembleDataModule(pl.LightningDataModule):
    """Holds the inputs, per-member targets and per-member row weights.

    The batches go to Lightning as they are, not in a ``DataLoader``: they already live
    on the training device and a group is one step, so worker processes could only add
    copies (and Lightning's advice to add them, a warning, does not arise).
    """

    def __init__(
        self, X: Tensor, targets: Tensor, weights: Tensor, rows: Tensor, batch_size: int,
        seed: int,
    ) -> None:
        super().__init__()
        self.batches = SharedBatches(X, targets, weights, rows, batch_size, seed)

    def train_dataloader(self) -> SharedBatches:
        return self.batches
