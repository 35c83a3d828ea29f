"""The LightningModule that trains B members at once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from embaudit.config import TrainingConfig
from embaudit.training.data import Batch
from embaudit.training.network import EnsembleMLP
from embaudit.training.optim import EnsembleAdam, EnsembleSGD, parameter_groups
from embaudit.training.quasi_newton import GoldenSectionLBFGS
from embaudit.training.raw import RawFeatureEnsemble
from embaudit.training.survival import cox_loss


def censored_terms(prediction: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Per-row loss of censored targets (``targets[..., 0]`` the standardized log
    lifespan y, ``targets[..., 1]`` the event) and their squared error.

    The loss is the negative log-likelihood of a log-normal accelerated-failure-time
    model at unit scale (the member's lifespan sd), without constants: a failure adds
    (y - μ)², today's squared error; a censored row adds -2 log Φ(μ - y), the chance of
    lasting beyond y, which only pushes μ up to and past the censoring time. The
    squared error counts a censored row only when μ falls short of its time.
    """
    value, event = targets[..., 0], targets[..., 1]
    error = prediction - value
    survived = -2.0 * torch.special.log_ndtr(error)
    per_row = torch.where(event > 0, error * error, survived)
    short = torch.where(event > 0, error, error.clamp_max(0.0))
    return per_row, short * short


class EnsembleRegressor(pl.LightningModule):
    """Sum of the members' weighted MSE losses under an element-wise optimizer.

    ``input_center`` (``p``; the rows' mean, say) is subtracted from the inputs of the
    raw-feature pass to keep its bias term small; it must not depend on the members.

    Adam, AdamW and SGD (with momentum) update element-wise, so the gradient of the
    summed loss with respect to member b's parameters is member b's own gradient: this
    is exactly B separate trainings that share their input batches. L-BFGS is not
    element-wise (its line search and history couple all parameters), so it trains one
    member per module. Members switched off by a stopping callback (``active``) stop
    contributing a loss.

    Optimization is manual: one Lightning step runs a group of mini-batches (one
    update each, in order), which spares Lightning's per-step overhead on the small
    updates of this workload. Networks without batch norm under Adam or SGD train in
    raw-feature coordinates (:class:`RawFeatureEnsemble`: a hand-written pass, one
    fused optimizer step over every parameter); the network's own parameters are
    updated from it after every step of Lightning's (an epoch), where callbacks read
    them. Batch norm and L-BFGS train the network itself through autograd; there
    Adam's fused kernel takes the parameters whose per-member slices are aligned to its
    vector width (its scalar tail rounds differently from its vector body) and the few
    others use the ``foreach`` kernel, which keeps "a member trains the same alone as in
    any ensemble" bit-exact.
    """

    def __init__(self, network: EnsembleMLP, config: TrainingConfig, weight_decay: float,
                 max_epochs: int, input_center: Tensor | None = None) -> None:
        super().__init__()
        if config.optimizer == "lbfgs" and network.n_members != 1:
            raise ValueError("L-BFGS trains one member per module (its line search is "
                             "per member)")
        self.automatic_optimization = False
        self.network = network
        self.config = config
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        B = network.n_members
        self.register_buffer("active", torch.ones(B, dtype=torch.bool))
        self.register_buffer("_sse", torch.zeros(B, dtype=torch.float64))
        self.register_buffer("_weight", torch.zeros(B, dtype=torch.float64))
        fused = config.optimizer in ("adam", "sgd") and network.norms is None
        center = torch.zeros(network.input_mean.shape[1]) if input_center is None \
            else input_center  # must not depend on the members (their independence)
        self.raw = RawFeatureEnsemble(network, center) if fused else None

    def training_inputs(self, X: Tensor) -> Tensor:
        """The rows as mini-batches must carry them (augmented for the raw-feature pass)."""
        return X if self.raw is None else self.raw.inputs(X)

    def loss(self, x: Tensor, targets: Tensor, weights: Tensor) -> Tensor:
        """Summed per-member weighted loss of one mini-batch (active members only): MSE,
        or with censored targets (``B × batch × 2``: value, event) the log-normal AFT
        loss at unit scale (:func:`censored_terms`)."""
        return self.objective(self.network(x, weights), targets, weights)

    def objective(self, prediction: Tensor, targets: Tensor, weights: Tensor) -> Tensor:
        """:meth:`loss` of given predictions; tallies the epoch's training loss."""
        total_weight = weights.sum(dim=1)
        if self.config.loss == "cox":  # already per unit of failure weight
            objective = cox_loss(prediction, targets[..., 0], targets[..., 1], weights,
                                 self.config.cox_ties)
            sse, objective = objective.detach() * total_weight, objective * total_weight
        elif targets.dim() == 3:
            per_row, squared = censored_terms(prediction, targets)
            sse = (weights * squared).sum(dim=1)
            objective = (weights * per_row).sum(dim=1)
        else:
            error = prediction - targets
            sse = objective = (weights * error * error).sum(dim=1)
        with torch.no_grad():
            factor = self._tally(sse, total_weight)
        loss = (objective * factor).sum()
        if self.config.optimizer == "lbfgs" and self.weight_decay > 0:
            # L-BFGS has no decoupled weight decay: an L2 penalty in its objective
            loss = loss + 0.5 * self.weight_decay * sum(
                (p**2).sum() for p in self.network.parameters())
        return loss

    def training_step(self, batches: Iterable[Batch], batch_idx: int) -> None:
        # raw optimizers: Lightning's wrapper would add its per-call overhead to every
        # small update (and ``trainer.global_step`` then stays 0: curves are logged per
        # epoch by the stopping callback, never with ``self.log``)
        optimizers = self.optimizers(use_pl_optimizer=False)
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        if self.raw is not None:
            for batch in batches:
                self.raw.backward(self._prediction_gradient(*batch))
                optimizers[0].update()
            self.raw.store(self.network)
            return
        for batch in batches:
            if self.config.optimizer == "lbfgs":
                optimizers[0].step(lambda batch=batch: self._closure(optimizers[0], batch))
                continue
            loss = self.loss(*batch)
            for optimizer in optimizers:
                optimizer.zero_grad()
            self.manual_backward(loss)
            for optimizer in optimizers:
                optimizer.step()

    def _prediction_gradient(self, x: Tensor, targets: Tensor, weights: Tensor) -> Tensor:
        """Gradient of :meth:`objective` with respect to the raw-feature pass's
        predictions: by hand for the MSE, ``2 · factor · w · (ŷ - y)``, else by autograd."""
        prediction = self.raw.forward(x)
        if targets.dim() == 3 or self.config.loss == "cox":
            prediction.requires_grad_()
            return torch.autograd.grad(self.objective(prediction, targets, weights),
                                       prediction)[0]
        error = prediction.sub_(targets)
        weighted = weights * error
        factor = self._tally((weighted * error).sum(dim=1), weights.sum(dim=1))
        return weighted.mul_((2 * factor)[:, None])

    def _tally(self, sse: Tensor, total_weight: Tensor) -> Tensor:
        """Add a mini-batch to the epoch's training loss; each member's loss factor (1 /
        its batch weight, 0 once it has stopped)."""
        self._sse += sse.double()
        self._weight += total_weight.double()
        return self.active / total_weight.clamp_min(1.0)

    def _closure(self, optimizer: torch.optim.Optimizer, batch: Batch) -> Tensor:
        """The loss of ``batch``, and its gradient unless called under ``no_grad`` (a
        line search that only needs values)."""
        optimizer.zero_grad()
        if not torch.is_grad_enabled():  # a line search's probe: not in the epoch's loss
            tally = self._sse.clone(), self._weight.clone()
            loss = self.loss(*batch)
            self._sse, self._weight = tally
            return loss
        loss = self.loss(*batch)
        self.manual_backward(loss)
        return loss

    def on_train_epoch_end(self) -> None:
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            if scheduler is not None:
                scheduler.step()

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
        """Mean squared error of each member on its own rows in evaluation mode (``mask``:
        B × rows, booleans or row weights); a censored row errs only below its time.
        Under the Cox loss: its negative log partial likelihood per failure."""
        was_training = self.network.training
        self.network.eval()
        predictions = self.network(x)
        self.network.train(was_training)
        mask = mask.float()
        if self.config.loss == "cox":
            return cox_loss(predictions, targets[..., 0], targets[..., 1], mask,
                            self.config.cox_ties)
        squared = censored_terms(predictions, targets)[1] if targets.dim() == 3 \
            else (predictions - targets) ** 2
        return (squared * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def configure_optimizers(self) -> Any:
        optimizers = self._optimizers()
        if self.config.lr_schedule == "cosine":
            schedulers = [torch.optim.lr_scheduler.CosineAnnealingLR(o, self.max_epochs)
                          for o in optimizers]
            return optimizers, schedulers
        return optimizers

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        config, params = self.config, list(self.parameters())
        if config.optimizer == "lbfgs" and config.lbfgs_line_search == "golden_section":
            return [GoldenSectionLBFGS(params, lr=config.learning_rate,
                                       max_iter=config.lbfgs_iterations,
                                       history_size=config.lbfgs_history)]
        if config.optimizer == "lbfgs":
            return [torch.optim.LBFGS(
                params, lr=config.learning_rate, max_iter=config.lbfgs_iterations,
                history_size=config.lbfgs_history, line_search_fn="strong_wolfe",
            )]
        if self.raw is not None and config.optimizer == "sgd":
            return [EnsembleSGD(self.raw, config.learning_rate, config.momentum,
                                self.weight_decay)]
        if self.raw is not None:
            return [EnsembleAdam(self.raw, config.learning_rate,
                                 weight_decay=self.weight_decay)]
        if config.optimizer == "sgd":
            return [torch.optim.SGD(params, lr=config.learning_rate, momentum=config.momentum,
                                    weight_decay=self.weight_decay, foreach=True)]
        adam = torch.optim.AdamW if self.weight_decay > 0 else torch.optim.Adam
        options = {"lr": config.learning_rate, "weight_decay": self.weight_decay}
        return [adam([group], **options) for group in parameter_groups(params)]
