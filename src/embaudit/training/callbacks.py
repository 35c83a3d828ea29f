"""Per-member stopping and progress: callbacks of the Fabric loop
(:mod:`embaudit.training.loop`), called by hook name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
from lightning_fabric import Fabric
from torch import Tensor

from embaudit.training.module import EnsembleRegressor


class MemberStopping:
    """Stop members one by one and restore, at the end, the weights each one kept.

    ``monitor="train"`` (regimes trained like overfit): a member stops once its epoch
    training loss falls below ``tolerance`` (in units of its target variance); it keeps
    its last weights. With ``training_rows`` (x, targets, row weights per member) that
    loss is the network's in evaluation mode on those rows, not the running loss of the
    epoch, which dropout and batch norm make noisy. ``monitor="validation"`` (early
    stopping): on the member's own validation rows with ``patience``; it keeps its best
    weights. With a ``target`` a member also stops once its validation loss reaches it
    (the optimizer study matches optimizers on validation loss, not on epochs).
    A member whose training (or validation) loss is not finite stops at once and counts
    as ``diverged`` (Lightning's ``EarlyStopping(check_finite=True)``, per member); it
    keeps the weights it last kept: its best under ``"validation"``, its initial ones
    under ``"train"``. Stopped members stop contributing a loss; when none is left,
    training ends. With ``member_ids``, each epoch's losses are logged per member to
    Fabric's loggers. :meth:`state_dict` holds the per-member state as plain tensors (a
    checkpoint can hold it); :meth:`load_state_dict` restores it, and a restored
    callback keeps it at the start of training.
    """

    def __init__(
        self,
        monitor: Literal["train", "validation"],
        *,
        tolerance: float = 0.0,
        patience: int = 10,
        validation: tuple[Tensor, Tensor, Tensor] | None = None,
        training_rows: tuple[Tensor, Tensor, Tensor] | None = None,
        member_ids: list[str] | None = None,
        target: float | None = None,
    ) -> None:
        if monitor == "validation" and validation is None:
            raise ValueError("monitor='validation' needs validation (x, targets, mask)")
        self.monitor = monitor
        self.tolerance = tolerance
        self.patience = patience
        self.validation = validation
        self.training_rows = training_rows
        self.member_ids = member_ids or []
        self.target = target
        self.kept: dict[str, Tensor] = {}
        self.history: list[np.ndarray] = []  # per epoch: (train, validation) losses (2 × B)
        # per member, set for the ensemble at the start of training
        self.best = torch.empty(0)
        self.wait = torch.empty(0, dtype=torch.long)
        self.stop_epoch = torch.empty(0, dtype=torch.long)
        self.reached = torch.empty(0, dtype=torch.bool)
        self.diverged = torch.empty(0, dtype=torch.bool)
        self._restored = False

    def on_train_start(self, fabric: Fabric, module: EnsembleRegressor) -> None:
        B = module.network.n_members
        if self._restored and len(self.stop_epoch) == B:  # resumed from a checkpoint
            return
        self.kept = {k: t.detach().clone() for k, t in module.network.member_state().items()}
        self.best = torch.full((B,), float("inf"))
        self.wait = torch.zeros(B, dtype=torch.long)
        self.stop_epoch = torch.full((B,), -1, dtype=torch.long)
        self.reached = torch.zeros(B, dtype=torch.bool)
        self.diverged = torch.zeros(B, dtype=torch.bool)

    def on_train_epoch_end(self, fabric: Fabric, module: EnsembleRegressor,
                           train_loss: Tensor) -> None:
        train_loss = train_loss.cpu()
        if self.training_rows is not None:
            train_loss = module.member_loss(*self.training_rows).cpu()
        active = module.active.clone().cpu()
        if self.validation is not None:
            x, targets, mask = self.validation
            validation_loss = module.member_loss(x, targets, mask).cpu()
        else:
            validation_loss = torch.full_like(train_loss, float("nan"))
        self.history.append(torch.stack([train_loss, validation_loss]).numpy())
        self._log(fabric, train_loss, validation_loss, active)
        finite = torch.isfinite(train_loss)
        if self.validation is not None:
            finite &= torch.isfinite(validation_loss)
        diverged = active & ~finite
        if self.monitor == "train":  # a member keeps its weights of the epoch it stops
            self.reached |= active & (train_loss < self.tolerance)
            stop = active & self.reached
            self._keep(module, stop & finite)
        else:
            improved = active & finite & (validation_loss < self.best)
            self.best = torch.where(improved, validation_loss, self.best)
            self._keep(module, improved)
            self.wait = torch.where(improved, 0, self.wait + active.long())
            stop = active & (self.wait >= self.patience)
            if self.target is not None:
                self.reached |= active & (validation_loss <= self.target)
                stop |= active & self.reached
        stop |= diverged
        self.diverged |= diverged
        self.stop_epoch[stop] = len(self.history)
        module.active &= ~stop.to(module.active.device)  # none left: training ends

    def on_train_end(self, fabric: Fabric, module: EnsembleRegressor) -> None:
        if self.monitor == "train":  # members that never stopped keep their last weights
            self._keep(module, self.stop_epoch < 0)
        self.stop_epoch[self.stop_epoch < 0] = len(self.history)
        with torch.no_grad():
            for name, tensor in module.network.member_state().items():
                tensor.copy_(self.kept[name])

    def state_dict(self) -> dict[str, Any]:
        """The per-member state: best losses, waits, stop epochs, flags, the loss history
        (epochs × 2 × B) and the weights each member keeps (plain tensors)."""
        history = torch.from_numpy(np.stack(self.history)) if self.history \
            else torch.zeros(0, 2, len(self.stop_epoch))
        return {"best": self.best, "wait": self.wait, "stop_epoch": self.stop_epoch,
                "reached": self.reached, "diverged": self.diverged, "history": history,
                "kept": dict(self.kept)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict`: training goes on with these members' state."""
        for name in ("best", "wait", "stop_epoch", "reached", "diverged"):
            setattr(self, name, state_dict[name].clone())
        self.history = [epoch.numpy().copy() for epoch in state_dict["history"]]
        self.kept = {k: t.clone() for k, t in state_dict["kept"].items()}
        self._restored = True

    def _keep(self, module: EnsembleRegressor, members: Tensor) -> None:
        if not members.any():
            return
        with torch.no_grad():
            for name, tensor in module.network.member_state().items():
                on_device = members.to(tensor.device)
                self.kept[name][on_device] = tensor.detach()[on_device]

    def _log(self, fabric: Fabric, train_loss: Tensor, validation_loss: Tensor,
             active: Tensor) -> None:
        """Training curves of the still-active members to Fabric's loggers, if any."""
        if not fabric.loggers or not self.member_ids:
            return
        metrics = {f"train_loss/{m}": float(v)
                   for m, v, a in zip(self.member_ids, train_loss, active, strict=True) if a}
        if self.validation is not None:
            metrics.update((f"validation_loss/{m}", float(v)) for m, v, a in
                           zip(self.member_ids, validation_loss, active, strict=True) if a)
        fabric.log_dict(metrics, step=len(self.history))


class MemberProgress:
    """Report after every epoch how many members of the chunk have finished."""

    def __init__(self, report: Callable[[int], None]) -> None:
        self.report = report

    def on_train_epoch_end(self, fabric: Fabric, module: EnsembleRegressor,
                           train_loss: Tensor) -> None:
        self.report(int((~module.active).sum()))

    def on_train_end(self, fabric: Fabric, module: EnsembleRegressor) -> None:
        self.report(module.network.n_members)
