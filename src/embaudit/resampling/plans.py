"""Resampling plans: the discovery/holdout split and the members trained on it.

Every random choice derives from one root seed through ``numpy.random.SeedSequence``
with a spawn key naming the member (its kind and index), so a member's spec never
depends on how many members are planned. Bootstrap and permutation member *i* get the
same rows and targets in every regime, which pairs the regimes' comparisons.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, StratifiedShuffleSplit

from embaudit.core.members import MemberKind, MemberSpec, Split

_KIND_CODE = {"reference": 0, "bootstrap": 1, "permutation": 2, "crossfit": 3,
              "replicate": 4}
_SPLIT_KEY = 100
_VALIDATION_KEY = 7


def seeded_rng(root_seed: int, *key: int) -> np.random.Generator:
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
    rng_seed = int(seeded_rng(seed, _SPLIT_KEY).integers(2**31 - 1))
    n = len(y)
    if groups is None:
        strata = quantile_strata(y, n_strata)
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
        strata = quantile_strata(medians, n_strata)
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


def quantile_strata(values: np.ndarray, n_strata: int) -> np.ndarray:
    n_strata = max(1, min(n_strata, len(values) // 10))
    edges = np.quantile(values, np.linspace(0, 1, n_strata + 1)[1:-1])
    return np.searchsorted(edges, values, side="right")


BootstrapKind = Literal["plain", "cluster", "subsample"]
PermuteWithin = Literal["none", "groups", "strata"]


def plan_members(
    split: Split,
    n_rows: int,
    regime: str,
    *,
    n_bootstrap: int,
    n_permutations: int,
    root_seed: int,
    validation_fraction: float | None = None,
    groups: np.ndarray | None = None,
    strata: np.ndarray | None = None,
    bootstrap: BootstrapKind = "plain",
    subsample_fraction: float = 0.5,
    permute_within: PermuteWithin = "none",
) -> list[MemberSpec]:
    """Reference, bootstrap and permutation members of one regime, all on discovery rows.

    ``groups`` and ``strata`` are per-row labels (length ``n_rows``) or None.
    ``bootstrap``: ``plain`` (rows with replacement), ``cluster`` (the discovery rows'
    groups with replacement; a row's weight is its group's multiplicity) or ``subsample``
    (m-out-of-n without replacement, m = round(subsample_fraction × discovery rows); whole
    groups when ``groups`` is given). ``permute_within``: ``none`` (the target permuted
    among all discovery rows), ``groups`` or ``strata`` (only among discovery rows of the
    same block). ``validation_fraction`` (regularized regime) holds out that fraction of
    each member's training rows for its early stopping (whole groups when ``groups`` is
    given). ``auto`` options are resolved by the caller.
    """
    group_codes = None if groups is None else label_codes(groups, n_rows, "groups")
    strata_codes = None if strata is None else label_codes(strata, n_rows, "strata")
    discovery = split.discovery
    if n_bootstrap > 0:
        _check_bootstrap(bootstrap, group_codes, discovery, subsample_fraction)
    blocks = _permutation_blocks(permute_within, group_codes, strata_codes, discovery,
                                 n_permutations)
    members = [_reference(split, n_rows, regime, root_seed)]
    members += [
        _bootstrap(split, n_rows, regime, root_seed, i, bootstrap, group_codes,
                   subsample_fraction)
        for i in range(n_bootstrap)
    ]
    members += [
        _permutation(split, n_rows, regime, root_seed, i, blocks) for i in range(n_permutations)
    ]
    if validation_fraction is not None:
        members = [with_validation_rows(m, validation_fraction, root_seed, group_codes)
                   for m in members]
    return members


def label_codes(labels: np.ndarray, n_rows: int, option: str) -> np.ndarray:
    """Integer codes 0..k-1 of per-row labels (sorted levels); no missing labels."""
    values = np.asarray(labels)
    if values.ndim != 1 or len(values) != n_rows:
        raise ValueError(f"{option} must hold one label per row ({n_rows}); got shape "
                         f"{values.shape}")
    codes, _ = pd.factorize(values, sort=True)
    if (codes < 0).any():
        raise ValueError(f"{option} has {int((codes < 0).sum())} missing labels; fill them "
                         "or drop those rows")
    return codes.astype(np.int64)


def _check_bootstrap(
    bootstrap: str, group_codes: np.ndarray | None, discovery: np.ndarray, fraction: float
) -> None:
    if bootstrap not in ("plain", "cluster", "subsample"):
        raise ValueError(f"bootstrap={bootstrap!r}: plan_members takes 'plain', 'cluster' or "
                         "'subsample' (resolve 'auto' before planning)")
    if bootstrap == "cluster" and group_codes is None:
        raise ValueError("bootstrap='cluster' resamples whole groups and needs a group "
                         "column: set data.group, or use resampling.bootstrap='plain'")
    if bootstrap == "subsample" and not 0 < fraction < 1:
        raise ValueError(f"subsample_fraction={fraction} must lie strictly between 0 and 1")
    if bootstrap != "plain" and group_codes is not None:
        n_groups = len(np.unique(group_codes[discovery]))
        if n_groups < 2:
            raise ValueError(f"bootstrap={bootstrap!r} resamples whole groups but the "
                             f"discovery rows hold {n_groups} group; use a finer group "
                             "column or resampling.bootstrap='plain'")


def _permutation_blocks(
    permute_within: str,
    group_codes: np.ndarray | None,
    strata_codes: np.ndarray | None,
    discovery: np.ndarray,
    n_permutations: int,
) -> np.ndarray | None:
    """Block code of each discovery row (None: one block, a plain permutation)."""
    if permute_within == "none":
        return None
    if permute_within not in ("groups", "strata"):
        raise ValueError(f"permute_within={permute_within!r}: plan_members takes 'none', "
                         "'groups' or 'strata' (resolve 'auto' before planning)")
    codes = group_codes if permute_within == "groups" else strata_codes
    if codes is None:
        fix = ("set data.group" if permute_within == "groups"
               else "set resampling.strata to a column")
        raise ValueError(f"permute_within={permute_within!r} needs {permute_within} labels: "
                         f"{fix}, or use resampling.permute_within='none'")
    blocks = codes[discovery]
    if n_permutations > 0 and np.bincount(blocks).max() < 2:
        raise ValueError(f"permute_within={permute_within!r} cannot move any target: every "
                         f"{permute_within[:-1]} has a single discovery row; use coarser "
                         "labels or resampling.permute_within='none'")
    return blocks


def _reference(split: Split, n_rows: int, regime: str, root_seed: int) -> MemberSpec:
    weights = np.zeros(n_rows, dtype=np.int64)
    weights[split.discovery] = 1
    return MemberSpec(
        kind="reference",
        regime=regime,
        index=0,
        seed=member_seed(root_seed, "reference", 0),
        weights=weights,
    )


def _bootstrap(
    split: Split,
    n_rows: int,
    regime: str,
    root_seed: int,
    index: int,
    bootstrap: str = "plain",
    group_codes: np.ndarray | None = None,
    subsample_fraction: float = 0.5,
) -> MemberSpec:
    rng = seeded_rng(root_seed, _KIND_CODE["bootstrap"], index)
    discovery = split.discovery
    weights = np.zeros(n_rows, dtype=np.int64)
    if bootstrap == "plain":
        drawn = rng.choice(discovery, size=len(discovery), replace=True)
        weights = np.bincount(drawn, minlength=n_rows).astype(np.int64)
    elif bootstrap == "cluster":
        present, row_group = np.unique(group_codes[discovery], return_inverse=True)
        drawn = rng.integers(len(present), size=len(present))
        weights[discovery] = np.bincount(drawn, minlength=len(present))[row_group]
    else:  # subsample: m-out-of-n without replacement
        m = min(max(1, round(subsample_fraction * len(discovery))), max(1, len(discovery) - 1))
        if group_codes is None:
            weights[rng.choice(discovery, size=m, replace=False)] = 1
        else:
            weights[_draw_groups(rng, discovery, group_codes, m)] = 1
    return MemberSpec(
        kind="bootstrap",
        regime=regime,
        index=index,
        seed=member_seed(root_seed, "bootstrap", index),
        weights=weights,
    )


def _draw_groups(
    rng: np.random.Generator, rows: np.ndarray, group_codes: np.ndarray, target: int
) -> np.ndarray:
    """Rows of whole groups, drawn in random order until their count is nearest ``target``.

    At least one group is drawn and at least one left out.
    """
    present, sizes = np.unique(group_codes[rows], return_counts=True)
    order = rng.permutation(len(present))
    totals = np.cumsum(sizes[order])[: len(present) - 1]
    n_drawn = int(np.argmin(np.abs(totals - target))) + 1
    return rows[np.isin(group_codes[rows], present[order[:n_drawn]])]


def _permutation(
    split: Split,
    n_rows: int,
    regime: str,
    root_seed: int,
    index: int,
    blocks: np.ndarray | None = None,
) -> MemberSpec:
    rng = seeded_rng(root_seed, _KIND_CODE["permutation"], index)
    discovery = split.discovery
    permutation = np.arange(n_rows)
    if blocks is None:
        permutation[discovery] = rng.permutation(discovery)
    else:
        # Both orders list the rows block by block (blocks in the same order, same sizes):
        # in index order, and shuffled; pairing them permutes within each block only.
        in_order = np.argsort(blocks, kind="stable")
        shuffled = np.lexsort((rng.random(len(discovery)), blocks))
        permutation[discovery[in_order]] = discovery[shuffled]
    weights = np.zeros(n_rows, dtype=np.int64)
    weights[discovery] = 1
    return MemberSpec(
        kind="permutation",
        regime=regime,
        index=index,
        seed=member_seed(root_seed, "permutation", index),
        weights=weights,
        permutation=permutation,
    )


def with_validation_rows(
    member: MemberSpec, fraction: float, root_seed: int, group_codes: np.ndarray | None = None
) -> MemberSpec:
    rng = seeded_rng(root_seed, _KIND_CODE[member.kind], member.index, _VALIDATION_KEY)
    rows = np.flatnonzero(member.weights > 0)
    size = max(1, round(fraction * len(rows)))
    if group_codes is None:
        chosen = rng.choice(rows, size=size, replace=False)
    else:
        n_groups = len(np.unique(group_codes[rows]))
        if n_groups < 2:
            raise ValueError(f"member {member.member_id} trains on {n_groups} group; "
                             "validation rows are whole groups and need at least 2: use a "
                             "finer group column or no validation split")
        chosen = _draw_groups(rng, rows, group_codes, size)
    validation = np.zeros(len(member.weights), dtype=bool)
    validation[chosen] = True
    return member.with_validation(validation)
