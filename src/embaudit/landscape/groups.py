"""What the landscape reads: the minima of one regime and optimizer (no torch needed to
name them, so the pipeline imports this without the study)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class MinimaGroup:
    """The minima of one regime and optimizer, as training left them: every member
    trained on the same rows (``train_weights``, one row each, all equal)."""

    regime: str
    optimizer: str
    member_ids: list[str]
    kinds: list[str]
    state: dict[str, np.ndarray] = field(repr=False)  # per-member tensors, member dim first
    train_weights: np.ndarray = field(repr=False)  # (M, n) row weights of each member's loss
    seeds: list[int] = field(default_factory=list)  # what minima share across groups
    weight_decay: float = 0.0  # the L2 penalty of the group's loss
    stops_early: bool = False  # not polished: the regime stops before a stationary point
