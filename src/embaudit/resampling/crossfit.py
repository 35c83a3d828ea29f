"""K-fold cross-fit: each fold in turn is the holdout, so all rows serve both roles.

A row is held out by exactly one fold and trains the members of every other fold; a
hypothesis discovered on one fold's discovery rows is tested only on that fold's holdout.
Folds are stratified on target quantiles; with a group column, whole groups go to one fold.
Seeds derive from the root seed through ``numpy.random.SeedSequence`` as in
:mod:`embaudit.resampling.plans`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from embaudit.core.members import MemberSpec, Split
from embaudit.resampling.plans import (
    label_codes,
    member_seed,
    quantile_strata,
    seeded_rng,
    with_validation_rows,
)

_CROSSFIT_KEY = 101


def crossfit_splits(
    y: np.ndarray,
    n_folds: int,
    seed: int,
    groups: np.ndarray | None = None,
    n_strata: int = 5,
) -> list[Split]:
    """``n_folds`` splits whose holdouts partition the rows (each row held out once).

    Stratified on quantiles of ``y`` (``StratifiedKFold``); with ``groups``, whole groups
    go to one fold (``StratifiedGroupKFold``).
    """
    y = np.asarray(y)
    n = len(y)
    if n_folds < 2:
        raise ValueError(f"crossfit_folds={n_folds}: cross-fitting needs at least 2 folds")
    if n < n_folds:
        raise ValueError(f"crossfit_folds={n_folds} exceeds the {n} rows; lower "
                         "split.crossfit_folds")
    rng_seed = int(seeded_rng(seed, _CROSSFIT_KEY).integers(2**31 - 1))
    # Strata of at least n_folds rows each, so that every fold can hold every stratum.
    strata = quantile_strata(y, min(n_strata, n // n_folds))
    if groups is None:
        splitter = StratifiedKFold(n_folds, shuffle=True, random_state=rng_seed)
        folds = list(splitter.split(np.zeros(n), strata))
    else:
        codes = label_codes(groups, n, "groups")
        n_groups = int(codes.max()) + 1
        if n_groups < n_folds:
            raise ValueError(f"crossfit_folds={n_folds} needs at least {n_folds} groups to "
                             f"keep groups together, but the group column has {n_groups}; "
                             "lower split.crossfit_folds or use a finer group column")
        splitter = StratifiedGroupKFold(n_folds, shuffle=True, random_state=rng_seed)
        folds = list(splitter.split(np.zeros(n), strata, groups=codes))
    splits = [Split(discovery=np.sort(train), holdout=np.sort(test)) for train, test in folds]
    empty = [fold for fold, split in enumerate(splits) if len(split.holdout) == 0]
    if empty:
        raise ValueError(f"crossfit_folds={n_folds}: folds {empty} received no rows; lower "
                         "split.crossfit_folds or use a finer group column")
    return splits


def plan_crossfit(
    splits: Sequence[Split],
    n_rows: int,
    regime: str,
    *,
    root_seed: int,
    validation_fraction: float | None = None,
    groups: np.ndarray | None = None,
) -> list[MemberSpec]:
    """One ``crossfit`` member per fold, trained on that fold's discovery rows.

    ``validation_fraction`` (regularized regime) holds out that fraction of each member's
    training rows for its early stopping (whole groups when ``groups`` is given).
    """
    group_codes = None if groups is None else label_codes(groups, n_rows, "groups")
    members = []
    for fold, split in enumerate(splits):
        weights = np.zeros(n_rows, dtype=np.int64)
        weights[split.discovery] = 1
        member = MemberSpec(
            kind="crossfit",
            regime=regime,
            index=fold,
            seed=member_seed(root_seed, "crossfit", fold),
            weights=weights,
        )
        if validation_fraction is not None:
            member = with_validation_rows(member, validation_fraction, root_seed, group_codes)
        members.append(member)
    return members
