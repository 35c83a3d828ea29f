"""Adam, AdamW and SGD for an ensemble: torch's own optimizers, as they are.

A :class:`RawFeatureEnsemble`'s parameters are the standardized network's (one flat
tensor; see :mod:`embaudit.training.raw`), so its optimizer is ``torch.optim``'s on
them, with torch's fused kernel, and a step post-hook rebuilds the raw-feature pass's
``[U | c]``. The fused kernel's scalar tail (the last ``numel % 16`` elements of a
tensor; its threads split at multiples of 16) rounds differently from its vector body,
so a member whose elements fell in the tail alone but in the body inside a larger
ensemble would not train bit for bit the same. The raw ensemble pads each member's
share to a multiple of :data:`FUSED_ALIGNMENT` floats, so no element is ever in the
tail; autograd's parameters (:func:`parameter_groups`) go to the fused kernel where
their per-member slices are such a multiple, and to the ``foreach`` implementation
(separate element-wise operations, whose vector and scalar code round alike) otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from embaudit.training.raw import MEMBER_ALIGNMENT, RawFeatureEnsemble

#: parameters whose per-member size is a multiple of this go to torch's fused kernel
FUSED_ALIGNMENT = MEMBER_ALIGNMENT


def member_aligned(parameter: Tensor) -> bool:
    """Whether a ``(B, …)`` parameter's per-member slice suits the fused kernel."""
    return parameter[0].numel() % FUSED_ALIGNMENT == 0


def parameter_groups(parameters: Iterable[Tensor]) -> list[dict[str, Any]]:
    """The parameters in one ``fused`` group (aligned ones) and one ``foreach`` group."""
    parameters = list(parameters)
    aligned = [p for p in parameters if member_aligned(p)]
    rest = [p for p in parameters if not member_aligned(p)]
    return ([{"params": aligned, "fused": True}] if aligned else []) + \
        ([{"params": rest, "foreach": True}] if rest else [])


def raw_feature_optimizer(ensemble: RawFeatureEnsemble, kind: str, lr: float, *,
                          momentum: float = 0.0, weight_decay: float = 0.0
                          ) -> torch.optim.Optimizer:
    """torch's fused Adam (``kind="adam"``; AdamW, decoupled decay, when ``weight_decay``
    is set) or SGD with momentum (coupled decay, dampening 0) over the ensemble's flat
    parameters, whose gradient the ensemble's backward pass writes; a step post-hook
    rebuilds ``[U | c]`` after every step. Its gradient is written whole by each
    backward pass: nothing to zero between steps."""
    if kind == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(
            [ensemble.flat], lr=lr, momentum=momentum, weight_decay=weight_decay,
            fused=True)
    else:
        optimizer = torch.optim.Adam([ensemble.flat], lr=lr, weight_decay=weight_decay,
                                     decoupled_weight_decay=True, fused=True)
    optimizer.register_step_post_hook(lambda *_: ensemble.refresh())
    return optimizer
