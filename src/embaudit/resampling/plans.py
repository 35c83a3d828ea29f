"""Resampling plans: the discovery/holdout split and the members trained on it.

Every random choice derives from one root seed through ``numpy.random.SeedSequence``
with a spawn key naming the member (its kind and index), so a member's spec never
depends on how many members are planned. Bootstrap and permutation member *i* get the
same rows and targets in every regime, which pairs the regimes' comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, StratifiedShuffleSplit

MemberKind = Literal["reference", "bootstrap", "permutation", "crossfit"]
_KIND_CODE = {"reference": 0, "bootstrap": 1, "permutation": 2, "crossfit": 3}
_SPLIT_KEY = 100
_VALIDATION_KEY = 7


@dataclass(frozen=True, eq=False)
class MemberSpec:
    """One network to train: which rows (weights), which targets, which seed."""

    member_id: str
    kind: MemberKind
    regime: str
    seed: int
    weights: np.ndarray = field(repr=False)
    permutation: np.ndarray | None = field(default=None, repr=False)
    validation: np.ndarray | None = field(default=None, repr=False)

    @property
    def train_weights(self) -> np.ndarray:
        """Row weights of the loss: bootstrap multiplicities, 0 on validation rows."""
        if self.validation is None:
            return self.weights
        return np.where(self.validation, 0, self.weights)

    def targets(self, y: np.ndarray) -> np.ndarray:
        """This member's target vector (permuted within the discovery rows if asked)."""
        return y if self.permutation is None else y[self.permutation]


@dataclass(frozen=True, eq=False)
class Split:
    """Row indices of the discovery and holdout parts (disjoint, sorted)."""

    discovery: np.ndarray
    holdout: np.ndarray

    def mask(self, part: Literal["discovery", "holdout"], n_rows: int) -> np.ndarray:
        out = np.zeros(n_rows, dtype=bool)
        out[getattr(self, part)] = True
        return out


def _rng(root_seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(root_seed, spawn_key=key))


def member_seed(root_seed: int, kind: MemberKind, index: int) -> int:
    """The initialisation seed of a member, from the root seed and its name only."""
    sequence = np.random.SeedSequence(root_seed, spawn_key=(_KIND_CODE[kind], index))
    return int(sequence.generate_state(1)[0])


def discovery_holdout_split(
    y: np.ndarray,
    holdout_fraction: float,
    n_strata: int,
    seed: int,
    groups: np.ndarray | None = None,
) -> Split:
    """Split rows into discovery and holdout, stratified on quantiles of ``y``.

    With ``groups``, whole groups go to one side (stratified on each group's median).
    """
    rng_seed = int(_rng(seed, _SPLIT_KEY).integers(2**31 - 1))
    n = len(y)
    if groups is None:
        strata = _quantile_strata(y, n_strata)
        splitter = StratifiedShuffleSplit(1, test_size=holdout_fraction, random_state=rng_seed)
        discovery, holdout = next(splitter.split(np.zeros(n), strata))
    else:
        labels, codes = np.unique(groups, return_inverse=True)
        if len(labels) < 4:
            raise ValueError(
                f"group column has {len(labels)} groups; a split that keeps groups together "
                "needs at least 4"
            )
        medians = np.array([np.median(y[codes == g]) for g in range(len(labels))])
        strata = _quantile_strata(medians, n_strata)
        counts = np.bincount(strata)
        if counts.min() >= 2 and round(holdout_fraction * len(labels)) >= len(counts):
            splitter = StratifiedShuffleSplit(1, test_size=holdout_fraction,
                                              random_state=rng_seed)
            _, held_groups = next(splitter.split(np.zeros(len(labels)), strata))
            held = np.isin(codes, held_groups)
            discovery, holdout = np.flatnonzero(~held), np.flatnonzero(held)
        else:
            splitter = GroupShuffleSplit(1, test_size=holdout_fraction, random_state=rng_seed)
            discovery, holdout = next(splitter.split(np.zeros(n), groups=codes))
    return Split(discovery=np.sort(discovery), holdout=np.sort(holdout))


def _quantile_strata(values: np.ndarray, n_strata: int) -> np.ndarray:
    n_strata = max(1, min(n_strata, len(values) // 10))
    edges = np.quantile(values, np.linspace(0, 1, n_strata + 1)[1:-1])
    return np.searchsorted(edges, values, side="right")


def plan_members(
    split: Split,
    n_rows: int,
    regime: str,
    *,
    n_bootstrap: int,
    n_permutations: int,
    root_seed: int,
    validation_fraction: float | None = None,
) -> list[MemberSpec]:
    """Reference, bootstrap and permutation members of one regime, all on discovery rows.

    ``validation_fraction`` (regularized regime) holds out that fraction of each member's
    training rows for its early stopping.
    """
    members = [_reference(split, n_rows, regime, root_seed)]
    members += [_bootstrap(split, n_rows, regime, root_seed, i) for i in range(n_bootstrap)]
    members += [_permutation(split, n_rows, regime, root_seed, i) for i in range(n_permutations)]
    if validation_fraction is not None:
        members = [_with_validation(m, validation_fraction, root_seed) for m in members]
    return members


def _reference(split: Split, n_rows: int, regime: str, root_seed: int) -> MemberSpec:
    weights = np.zeros(n_rows, dtype=np.int64)
    weights[split.discovery] = 1
    return MemberSpec(
        member_id=f"{regime}/reference",
        kind="reference",
        regime=regime,
        seed=member_seed(root_seed, "reference", 0),
        weights=weights,
    )


def _bootstrap(split: Split, n_rows: int, regime: str, root_seed: int, index: int) -> MemberSpec:
    rng = _rng(root_seed, _KIND_CODE["bootstrap"], index)
    drawn = rng.choice(split.discovery, size=len(split.discovery), replace=True)
    return MemberSpec(
        member_id=f"{regime}/bootstrap/{index:04d}",
        kind="bootstrap",
        regime=regime,
        seed=member_seed(root_seed, "bootstrap", index),
        weights=np.bincount(drawn, minlength=n_rows).astype(np.int64),
    )


def _permutation(
    split: Split, n_rows: int, regime: str, root_seed: int, index: int
) -> MemberSpec:
    rng = _rng(root_seed, _KIND_CODE["permutation"], index)
    permutation = np.arange(n_rows)
    permutation[split.discovery] = rng.permutation(split.discovery)
    weights = np.zeros(n_rows, dtype=np.int64)
    weights[split.discovery] = 1
    return MemberSpec(
        member_id=f"{regime}/permutation/{index:04d}",
        kind="permutation",
        regime=regime,
        seed=member_seed(root_seed, "permutation", index),
        weights=weights,
        permutation=permutation,
    )


def _with_validation(member: MemberSpec, fraction: float, root_seed: int) -> MemberSpec:
    index = 0 if member.kind == "reference" else int(member.member_id.rsplit("/", 1)[1])
    rng = _rng(root_seed, _KIND_CODE[member.kind], index, _VALIDATION_KEY)
    rows = np.flatnonzero(member.weights > 0)
    chosen = rng.choice(rows, size=max(1, round(fraction * len(rows))), replace=False)
    validation = np.zeros(len(member.weights), dtype=bool)
    validation[chosen] = True
    return MemberSpec(
        member_id=member.member_id,
        kind=member.kind,
        regime=member.regime,
        seed=member.seed,
        weights=member.weights,
        permutation=member.permutation,
        validation=validation,
    )


def kinds(members: Sequence[MemberSpec]) -> np.ndarray:
    """The kind of each member, as an array (for masks)."""
    return np.array([m.kind for m in members])
