"""One chunk's training loop, written for Lightning Fabric.

Fabric places the module (parameters and buffers) on the device, runs autograd's
backward passes (batch norm, L-BFGS) through its precision plugin, steps every
optimizer through its wrapper (the raw-feature pass computes its gradient by hand, then
steps), calls the callbacks' hooks and logs to its loggers; the loop is the one Fabric
asks its users to write:
epochs of mini-batches, the learning-rate schedulers stepped once per epoch, and the
hooks ``on_train_start(fabric, module)``, ``on_train_epoch_end(fabric, module,
train_loss)`` (each member's training loss of the epoch) and ``on_train_end(fabric,
module)`` called on the callbacks. Training ends after
``module.max_epochs`` epochs or once a callback has stopped every member
(``module.active``). Gradients are on for the loop, whatever the caller's mode; the
loggers write what they hold even when training fails. Nothing here changes a logger,
a warning filter or any other setting of the process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from lightning_fabric import Fabric
from lightning_fabric.loggers import Logger
from torch import Tensor

from embaudit.training.data import Batch, SharedBatches
from embaudit.training.module import EnsembleRegressor

Step = Callable[[Batch], None]


def train_module(module: EnsembleRegressor, batches: SharedBatches, callbacks: Sequence[Any],
                 device: torch.device, logger: Logger | None = None) -> None:
    """Train ``module`` on ``batches`` until its members have stopped or its epochs run
    out; ``callbacks`` hear the hooks, ``logger`` receives what they log."""
    fabric = Fabric(accelerator="cuda" if device.type == "cuda" else "cpu",
                    devices=[device.index or 0] if device.type == "cuda" else 1,
                    precision="32-true", callbacks=list(callbacks),
                    loggers=[] if logger is None else [logger])
    optimizers, schedulers = module.configure_optimizers()
    model, *optimizers = fabric.setup(module, *optimizers)
    step = _step(fabric, model, optimizers)
    status = "failed"
    try:
        with torch.enable_grad():
            fabric.call("on_train_start", fabric=fabric, module=module)
            for index in range(module.max_epochs):
                epoch = batches.epoch(index)
                module.begin_epoch(epoch)
                for batch in epoch:
                    step(batch)
                train_loss = module.end_epoch()
                for scheduler in schedulers:
                    scheduler.step()
                fabric.call("on_train_epoch_end", fabric=fabric, module=module,
                            train_loss=train_loss)
                if not module.active.any():
                    break
            fabric.call("on_train_end", fabric=fabric, module=module)
        status = "success"
    finally:
        for each in fabric.loggers:
            each.finalize(status)


def _step(fabric: Fabric, model: Any, optimizers: list[Any]) -> Step:
    """One mini-batch's update for the module's way of training: the raw-feature pass
    (gradient by hand, then the optimizer's step), L-BFGS (its closure), or autograd."""
    module: EnsembleRegressor = model.module

    def raw_step(batch: Batch) -> None:
        module.raw.backward(module.prediction_gradient(batch))
        optimizers[0].step()

    def lbfgs_step(batch: Batch) -> None:
        optimizers[0].step(lambda: module.closure(batch, optimizers[0], fabric.backward))

    def autograd_step(batch: Batch) -> None:
        for optimizer in optimizers:
            optimizer.zero_grad()
        loss: Tensor = module.objective(model(batch.x, batch.weights), batch.targets,
                                        batch.weights)
        fabric.backward(loss)
        for optimizer in optimizers:
            optimizer.step()

    if module.raw is not None:
        return raw_step
    return lbfgs_step if module.config.optimizer == "lbfgs" else autograd_step
