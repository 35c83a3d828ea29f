"""The members an audit trains and the row split they train on.

A member's id is built from its fields (regime, kind, index) and is never parsed back:
code that needs a member's regime or kind reads the field, or the store's column.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

MemberKind = Literal["reference", "bootstrap", "permutation", "crossfit", "replicate"]
#: digits of a member's index in its id (ids sort in training order)
_INDEX_WIDTH = {"bootstrap": 4, "permutation": 4, "crossfit": 2, "replicate": 2}


def member_id(regime: str, kind: MemberKind, index: int = 0, optimizer: str | None = None
              ) -> str:
    """The id of a member: ``overfit/reference``, ``overfit/bootstrap/0003``, …, and
    ``overfit/reference@lbfgs`` for the optimizer study's retrained copies."""
    base = f"{regime}/reference" if kind == "reference" else \
        f"{regime}/{kind}/{index:0{_INDEX_WIDTH[kind]}d}"
    return base if optimizer is None else f"{base}@{optimizer}"


@dataclass(frozen=True, eq=False)
class MemberSpec:
    """One network to train: which rows (weights), which targets, which seed."""

    kind: MemberKind
    regime: str
    index: int
    seed: int
    weights: np.ndarray = field(repr=False)
    permutation: np.ndarray | None = field(default=None, repr=False)
    validation: np.ndarray | None = field(default=None, repr=False)
    #: set for the optimizer study's copies: trained with this optimizer, not the config's
    optimizer: str | None = None

    @property
    def member_id(self) -> str:
        return member_id(self.regime, self.kind, self.index, self.optimizer)

    @property
    def train_weights(self) -> np.ndarray:
        """Row weights of the loss: bootstrap multiplicities, 0 on validation rows."""
        if self.validation is None:
            return self.weights
        return np.where(self.validation, 0, self.weights)

    def targets(self, y: np.ndarray) -> np.ndarray:
        """This member's target vector (permuted within the discovery rows if asked)."""
        return y if self.permutation is None else y[self.permutation]

    def with_validation(self, validation: np.ndarray) -> MemberSpec:
        """The same member with ``validation`` rows held out of its loss."""
        return replace(self, validation=validation)

    def with_optimizer(self, optimizer: str) -> MemberSpec:
        """The same member (rows, targets, seed) for training with ``optimizer``."""
        return replace(self, optimizer=optimizer)


@dataclass(frozen=True, eq=False)
class Split:
    """Row indices of the discovery and holdout parts (disjoint, sorted)."""

    discovery: np.ndarray
    holdout: np.ndarray


def chunk_key(member_ids: Sequence[str]) -> str:
    """A name for a chunk of members, fixed by which members it holds."""
    return hashlib.sha256("\n".join(member_ids).encode()).hexdigest()[:16]
