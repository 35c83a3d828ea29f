"""The LightningModule that trains B members at once."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import Tensor

from embaudit.training.network import EnsembleMLP


class EnsembleRegressor(pl.LightningModule):
    """Sum of the members' weighted MSE losses; Adam keeps the members independent.

    Adam (and AdamW) update element-wise, so the gradient of the summed loss with
    respect to member b's parameters is member b's own gradient: this is exactly B
    separate trainings that share their input batches. Members switched off by a
    stopping callback (``active``) stop contributing a loss.
    """

    def __init__(self, network: EnsembleMLP, learning_rate: float, weight_decay: float) -> None:
        super().__init__()
        self.network = network
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        B = network.n_members
        self.register_buffer("active", torch.ones(B, dtype=torch.bool))
        self.register_buffer("_sse", torch.zeros(B, dtype=torch.float64))
        self.register_buffer("_weight", torch.zeros(B, dtype=torch.float64))

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> Tensor:
        x, targets, weights = batch
        predictions, _ = self.network(x)
        squared = weights * (predictions - targets) ** 2
        total_weight = weights.sum(dim=1)
        per_member = squared.sum(dim=1) / total_weight.clamp_min(1.0)
        with torch.no_grad():
            self._sse += squared.sum(dim=1).double()
            self._weight += total_weight.double()
        return (per_member * self.active).sum()

    def pop_epoch_train_loss(self) -> Tensor:
        """Weighted training MSE of each member over the epoch just finished; resets."""
        loss = (self._sse / self._weight.clamp_min(1.0)).float()
        self._sse.zero_()
        self._weight.zero_()
        return loss

    @torch.no_grad()
    def member_loss(self, x: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
        """Mean squared error of each member on its own rows (``mask``: B × rows)."""
        was_training = self.network.training
        self.network.eval()
        predictions, _ = self.network(x)
        self.network.train(was_training)
        mask = mask.float()
        return ((predictions - targets) ** 2 * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.weight_decay > 0:
            return torch.optim.AdamW(
                self.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
            )
        return torch.optim.Adam(self.parameters(), lr=self.learning_rate)
