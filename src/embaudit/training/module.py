"""The module that trains B members at once: their network, loss and optimizers."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from embaudit.config import TrainingConfig
from embaudit.training.data import Batch, Epoch
from embaudit.training.network import EnsembleMLP
from embaudit.training.optim import parameter_groups, raw_feature_optimizer
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


class EnsembleRegressor(nn.Module):
    """Sum of the members' weighted MSE losses under an element-wise optimizer.

    ``input_center`` (``p``; the rows' mean, say) is subtracted from the inputs of the
    raw-feature pass to keep its bias term small; it must not depend on the members.

    Adam, AdamW and SGD (with momentum) update element-wise, so the gradient of the
    summed loss with respect to member b's parameters is member b's own gradient: this
    is exactly B separate trainings that share their input batches. L-BFGS is not
    element-wise (its line search and history couple all parameters), so it trains one
    member per module. Members switched off by a stopping callback (``active``) stop
    contributing a loss. :func:`embaudit.training.loop.train_module` trains it
    (Lightning Fabric's loop).

    Networks without batch norm under Adam or SGD train in raw-feature coordinates
    (:class:`RawFeatureEnsemble`: a pass by hand, torch's fused optimizer over every
    parameter at once, the MSE's gradient prepared once per epoch); the network's own
    parameters are updated from it at the end of every epoch, where callbacks read
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
        #: the epoch under way, and for the MSE by hand each row's gradient factor
        #: (2 · weight / its batch's weight, 0 for stopped members) and error
        self._epoch: Epoch | None = None
        self._gradient_weights: Tensor | None = None
        self._errors: Tensor | None = None

    def forward(self, x: Tensor, weights: Tensor | None = None) -> Tensor:
        """The members' predictions ``(B, rows)`` (``weights``: batch norm's row weights)."""
        return self.network(x, weights)

    def training_inputs(self, X: Tensor) -> Tensor:
        """The rows as mini-batches must carry them (augmented for the raw-feature pass)."""
        return X if self.raw is None else self.raw.inputs(X)

    def loss(self, x: Tensor, targets: Tensor, weights: Tensor) -> Tensor:
        """Summed per-member weighted loss of one mini-batch (active members only): MSE,
        or with censored targets (``B × batch × 2``: value, event) the log-normal AFT
        loss at unit scale (:func:`censored_terms`)."""
        return self.objective(self(x, weights), targets, weights)

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

    def begin_epoch(self, epoch: Epoch) -> None:
        """Start ``epoch``; for the MSE by hand, every row's gradient factor at once."""
        self._epoch = epoch
        if self.raw is None or epoch.targets.dim() == 3 or self.config.loss == "cox":
            return
        factor = self.active[:, None] / epoch.batch_totals().clamp_min(1.0)
        self._gradient_weights = epoch.weights * (2 * factor)
        self._errors = torch.empty_like(epoch.weights)

    @torch.no_grad()
    def prediction_gradient(self, batch: Batch) -> Tensor:
        """Gradient of :meth:`objective` with respect to the raw-feature pass's
        predictions of ``batch`` (of the epoch begun): for the MSE by hand, ``2 · w /
        (batch weight) · (ŷ - y)`` (the loss tallied at the epoch's end), else by
        autograd."""
        prediction = self.raw.forward(batch.x)
        if self._errors is None:
            with torch.enable_grad():
                prediction.requires_grad_()
                return torch.autograd.grad(
                    self.objective(prediction, batch.targets, batch.weights), prediction)[0]
        error = torch.sub(prediction, batch.targets, out=self._errors[:, batch.rows])
        return error * self._gradient_weights[:, batch.rows]

    def _tally(self, sse: Tensor, total_weight: Tensor) -> Tensor:
        """Add a mini-batch to the epoch's training loss; each member's loss factor (1 /
        its batch weight, 0 once it has stopped)."""
        self._sse += sse.double()
        self._weight += total_weight.double()
        return self.active / total_weight.clamp_min(1.0)

    def closure(self, batch: Batch, optimizer: torch.optim.Optimizer,
                backward: Callable[[Tensor], None]) -> Tensor:
        """The loss of ``batch``, and its gradient (through ``backward``) unless called
        under ``no_grad`` (a line search that only needs values): L-BFGS's closure."""
        optimizer.zero_grad()
        if not torch.is_grad_enabled():  # a line search's probe: not in the epoch's loss
            tally = self._sse.clone(), self._weight.clone()
            loss = self.loss(batch.x, batch.targets, batch.weights)
            self._sse, self._weight = tally
            return loss
        loss = self.loss(batch.x, batch.targets, batch.weights)
        backward(loss)
        return loss

    def end_epoch(self) -> Tensor:
        """Weighted training MSE of each member over the epoch just finished; resets.
        The raw-feature pass's parameters go back to the network (callbacks read them).

        Under L-BFGS the closure runs once per function evaluation, so this averages
        over every evaluation of the epoch.
        """
        if self.raw is not None:
            self.raw.store(self.network)
        if self._errors is not None and self._epoch is not None:
            epoch, weights = self._epoch, self._epoch.weights.double()
            squared = weights * self._errors.double().square()
            self._tally(epoch.batch_sums(squared).sum(1), epoch.batch_sums(weights).sum(1))
        self._epoch = self._gradient_weights = self._errors = None
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

    def configure_optimizers(self) -> tuple[list[torch.optim.Optimizer],
                                            list[torch.optim.lr_scheduler.LRScheduler]]:
        """The optimizers, and a cosine schedule of their rates if configured (stepped
        once per epoch)."""
        optimizers = self._optimizers()
        if self.config.lr_schedule == "cosine":
            return optimizers, [torch.optim.lr_scheduler.CosineAnnealingLR(o, self.max_epochs)
                                for o in optimizers]
        return optimizers, []

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        config, params = self.config, list(self.network.parameters())
        if config.optimizer == "lbfgs" and config.lbfgs_line_search == "golden_section":
            return [GoldenSectionLBFGS(params, lr=config.learning_rate,
                                       max_iter=config.lbfgs_iterations,
                                       history_size=config.lbfgs_history)]
        if config.optimizer == "lbfgs":
            return [torch.optim.LBFGS(
                params, lr=config.learning_rate, max_iter=config.lbfgs_iterations,
                history_size=config.lbfgs_history, line_search_fn="strong_wolfe",
            )]
        if self.raw is not None:
            return [raw_feature_optimizer(self.raw, config.optimizer, config.learning_rate,
                                          momentum=config.momentum,
                                          weight_decay=self.weight_decay)]
        if config.optimizer == "sgd":
            return [torch.optim.SGD(params, lr=config.learning_rate, momentum=config.momentum,
                                    weight_decay=self.weight_decay, foreach=True)]
        adam = torch.optim.AdamW if self.weight_decay > 0 else torch.optim.Adam
        options = {"lr": config.learning_rate, "weight_decay": self.weight_decay}
        return [adam([group], **options) for group in parameter_groups(params)]
