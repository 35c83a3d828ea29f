"""The LightningModule that trains B members at once."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from embaudit.config import TrainingConfig
from embaudit.training.network import EnsembleMLP


class EnsembleRegressor(pl.LightningModule):
    """Sum of the members' weighted MSE losses under an element-wise optimizer.

    Adam, AdamW and SGD (with momentum) update element-wise, so the gradient of the
    summed loss with respect to member b's parameters is member b's own gradient: this
    is exactly B separate trainings that share their input batches. L-BFGS is not
    element-wise (its line search and history couple all parameters), so it trains one
    member per module. Members switched off by a stopping callback (``active``) stop
    contributing a loss. Adam runs its ``foreach`` implementation: the fused kernel
    rounds a member's update differently depending on where its slice sits in the
    stacked tensor, which breaks "a member trains the same alone as in any ensemble".
    """

    def __init__(self, network: EnsembleMLP, config: TrainingConfig, weight_decay: float,
                 max_epochs: int) -> None:
        super().__init__()
        if config.optimizer == "lbfgs" and network.n_members != 1:
            raise ValueError("L-BFGS trains one member per module (its line search is "
                             "per member)")
        self.network = network
        self.config = config
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        B = network.n_members
        self.register_buffer("active", torch.ones(B, dtype=torch.bool))
        self.register_buffer("_sse", torch.zeros(B, dtype=torch.float64))
        self.register_buffer("_weight", torch.zeros(B, dtype=torch.float64))

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> Tensor:
        x, targets, weights = batch
        predictions = self.network(x, weights)
        squared = weights * (predictions - targets) ** 2
        total_weight = weights.sum(dim=1)
        per_member = squared.sum(dim=1) / total_weight.clamp_min(1.0)
        with torch.no_grad():
            self._sse += squared.sum(dim=1).double()
            self._weight += total_weight.double()
        return (per_member * self.active).sum()

    def pop_epoch_train_loss(self) -> Tensor:
        """Weighted training MSE of each member over the epoch just finished; resets.

        Under L-BFGS the closure runs once per function evaluation, so this averages
        over every evaluation of the epoch.
        """
        loss = (self._sse / self._weight.clamp_min(1.0)).float()
        self._sse.zero_()
        self._weight.zero_()
        return loss

    @torch.no_grad()
    def member_loss(self, x: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
        """Mean squared error of each member on its own rows (``mask``: B × rows)."""
        was_training = self.network.training
        self.network.eval()
        predictions = self.network(x)
        self.network.train(was_training)
        mask = mask.float()
        return ((predictions - targets) ** 2 * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def configure_optimizers(self) -> Any:
        config, params = self.config, self.parameters()
        if config.optimizer == "lbfgs":
            optimizer: torch.optim.Optimizer = torch.optim.LBFGS(
                params, lr=config.learning_rate, max_iter=config.lbfgs_iterations,
                history_size=config.lbfgs_history, line_search_fn="strong_wolfe",
            )
        elif config.optimizer == "sgd":
            optimizer = torch.optim.SGD(params, lr=config.learning_rate,
                                        momentum=config.momentum,
                                        weight_decay=self.weight_decay)
        elif self.weight_decay > 0:
            optimizer = torch.optim.AdamW(params, lr=config.learning_rate,
                                          weight_decay=self.weight_decay, foreach=True)
        else:
            optimizer = torch.optim.Adam(params, lr=config.learning_rate, foreach=True)
        if config.lr_schedule == "cosine":
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.max_epochs)
            return {"optimizer": optimizer, "lr_scheduler": schedule}
        return optimizer
