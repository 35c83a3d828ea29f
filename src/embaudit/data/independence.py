"""Are the rows independent? Evidence that they come in groups the audit was not told of.

Every test of an audit takes rows as independent unless a group column is given. Rows
that come in groups (batches, product lines, repeated measurements of one object) share
effects, and tests that take them as independent confirm far too often. Without a group
column, :func:`clustering_evidence` looks for two signs and names what it saw:

* **near-duplicate feature rows**: at least 5% of a sample of rows have a nearest
  neighbour (standardized continuous features, at least five of them: discrete ones
  repeat by nature) closer than a tenth of their 20th nearest: repeated measurements of
  one object, or copies (in independent rows of five or more dimensions, the nearest
  row is rarely a tenth as far as the 20th);
* **runs in the id order** (the file's order without an id column): neighbouring rows
  agree far beyond what a random order gives (z > 5) on a discrete column (the lifespan,
  an attribute or a covariate constant over runs of rows), or on two numeric ones (high
  lag-1 rank correlations; one alone is as often a trend over the order, such as
  calendar time). Columns the rows are merely sorted by (each value one run, within the
  runs of the columns sorted before them: any column the audit reads, or another with
  at most 20 values) are sort keys, not evidence; after a sort by
  a numeric column with many values (nine in ten of its steps one way, or in bands of
  it: lag-1 rank correlation ≥ 0.9 without its values repeating), neighbours agree on
  whatever correlates with it, so the order says nothing and is not read. A numeric
  column whose neighbours share their exact value in half the pairs is constant over
  runs: a property of a group copied onto its rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from embaudit.data.table import Table

#: share of sampled rows with a near-duplicate feature row that counts as evidence
DUPLICATE_SHARE = 0.05
#: a near-duplicate lies closer than this fraction of the row's NEIGHBOURS-th nearest row
DUPLICATE_DISTANCE = 0.1
NEIGHBOURS = 20
#: z beyond which neighbours agree too often for a random order
RUNS_Z = 5.0
#: a numeric column whose neighbours correlate this much orders the rows (in bands)
NEAR_SORT = 0.9
#: a column with at most this many distinct values is read as discrete
DISCRETE_LEVELS = 20
_SAMPLE = 500
_CHUNK = 20_000


def clustering_evidence(table: Table, seed: int = 0) -> list[str]:
    """What suggests that ``table``'s rows come in groups, in words (empty when nothing
    does, and always empty with a group column: rows are then tested by group)."""
    if table.group is not None:
        return []
    evidence = _order_evidence(table)
    duplicates = _near_duplicates(table.X, seed)
    return evidence + ([duplicates] if duplicates else [])


def independence_sentence(table: Table, evidence: list[str]) -> str:
    """What the audit assumed about its rows, and the evidence against it if any."""
    if table.group is not None:
        return (f"Rows of one {table.group} are kept together and tested as a cluster; rows "
                "of different groups are assumed independent.")
    if not evidence:
        return ("Rows are assumed independent (no group column was given); nothing in the "
                "table suggests otherwise (no near-duplicate feature rows, no runs in "
                f"{_order_name(table)}).")
    return ("Rows are assumed independent (no group column was given), but they look "
            f"clustered: {'; '.join(evidence)}. If rows come in groups (batches, product "
            "lines, repeated measurements), audit again with --group COLUMN: tests that take "
            "clustered rows as independent confirm far too often.")


def _order_name(table: Table) -> str:
    return "the file's row order" if table.id is None else f"the order of {table.id}"


def _order_evidence(table: Table) -> list[str]:
    """Columns whose neighbours, in id order, agree beyond chance (see the module).

    The rows may be sorted by any column the audit reads, or by another column with few
    values (a treatment arm; one with many, such as a batch number, is what a group
    column would name, not a sort); only the lifespan, the attributes and the covariates
    are read as evidence."""
    frame = table.frame
    order = np.arange(table.n_rows) if table.id is None else \
        np.argsort(frame[table.id].to_numpy(), kind="stable")
    if _sorted_by_a_feature(table.X[order]):
        return []
    read = [table.target, *table.attributes, *table.covariates]
    others = [c for c in frame.columns if c not in {*read, *table.features, table.id}]
    others += _discrete_features(table)
    codes = {name: _codes(frame[name].to_numpy()[order]) for name in [*read, *others]}
    codes[table.target] = _codes(table.lifespan[order])
    codes = {name: code for name, code in codes.items() if name in read or _discrete(code)}
    blocks = np.zeros(table.n_rows, dtype=np.int64)
    keys: list[str] = []
    while True:
        sorted_now = [name for name in codes if name not in keys
                      and _sorted_within(codes[name], blocks)]
        if not sorted_now:
            break
        for name in sorted_now:
            if not _discrete(codes[name]):
                return []  # a sort by a continuous column: the order says nothing
            keys.append(name)
            blocks = np.unique(np.column_stack([blocks, codes[name]]), axis=0,
                               return_inverse=True)[1].ravel()
    codes = {name: codes[name] for name in read}
    where = _order_name(table)
    same = blocks[1:] == blocks[:-1]
    runs, trends = [], []
    for name, code in codes.items():
        if name in keys:
            continue
        observed, expected, z = _equal_neighbours(code, blocks, same)
        if z > RUNS_Z and (_discrete(code) or observed >= 0.5 * np.count_nonzero(same)):
            runs.append(f"{name} stays constant over runs of rows in {where} "
                        f"({observed} neighbouring rows share its value where a random "
                        f"order gives about {expected:.0f})")
            continue
        if _discrete(code):
            continue
        r, z = _lag_correlation(code, same)
        if r >= NEAR_SORT or _mostly_one_way(code, same):
            return []  # sorted by a continuous column, or in bands of it: says nothing
        if z > RUNS_Z:
            trends.append(f"{name} of neighbouring rows in {where} correlates (lag-1 "
                          f"rank correlation {r:.2f}, z = {z:.1f})")
    return runs + (trends if len(trends) >= 2 else [])


def _discrete_features(table: Table) -> list[str]:
    """The features with few values (a treatment arm, a sex), which rows may be sorted
    by; judged on a sample of rows, confirmed on all of them."""
    X = table.X
    probe = X[np.random.default_rng(0).choice(len(X), size=min(len(X), 2000), replace=False)]
    levels = 1 + np.count_nonzero(np.diff(np.sort(probe, axis=0), axis=0), axis=0)
    return [table.features[j] for j in np.flatnonzero(levels <= DISCRETE_LEVELS)]


def _sorted_by_a_feature(X: np.ndarray) -> bool:
    """A feature with many values never decreases, or never increases, down the rows."""
    if X.shape[1] == 0 or len(X) < 3:
        return False
    steps = np.diff(X, axis=0)
    monotone = np.all(steps >= 0, axis=0) | np.all(steps <= 0, axis=0)
    return bool(np.any(monotone & (np.count_nonzero(steps, axis=0) >= DISCRETE_LEVELS)))


def _codes(values: np.ndarray) -> np.ndarray:
    """Integer codes of ``values`` in their sorted order (missing values last)."""
    return pd.factorize(pd.Series(values), sort=True, use_na_sentinel=False)[0]


def _discrete(codes: np.ndarray) -> bool:
    return int(codes.max(initial=0)) + 1 <= DISCRETE_LEVELS


def _sorted_within(codes: np.ndarray, blocks: np.ndarray) -> bool:
    """Within every block each value forms one run (a discrete column), or the values
    never decrease or never increase (any column): the rows are sorted by it there."""
    boundary = blocks[1:] != blocks[:-1]
    steps = np.diff(codes)
    if np.all((steps >= 0) | boundary) or np.all((steps <= 0) | boundary):
        return True
    if not _discrete(codes):
        return False
    runs = 1 + np.count_nonzero((steps != 0) | boundary)
    return runs == len(np.unique(np.column_stack([blocks, codes]), axis=0))


def _mostly_one_way(codes: np.ndarray, same: np.ndarray) -> bool:
    """Nine in ten of the column's changes between neighbours (within blocks) go the
    same way: the rows are nearly sorted by it."""
    steps = np.diff(codes)[same]
    moves = np.count_nonzero(steps)
    return moves > 0 and max(np.count_nonzero(steps > 0), np.count_nonzero(steps < 0)) \
        >= 0.9 * moves


def _equal_neighbours(codes: np.ndarray, blocks: np.ndarray, same: np.ndarray
                      ) -> tuple[int, float, float]:
    """Neighbouring rows (within a block) sharing a value: observed, expected in a random
    order within the blocks, and the z of the difference (binomial spread)."""
    observed = int(np.count_nonzero((codes[1:] == codes[:-1]) & same))
    expected = variance = 0.0
    for block in np.unique(blocks):
        values = codes[blocks == block]
        m = len(values)
        if m < 2:
            continue
        counts = np.bincount(values)
        p = float((counts * (counts - 1)).sum()) / (m * (m - 1))
        expected += (m - 1) * p
        variance += (m - 1) * p * (1 - p)
    z = (observed - expected) / np.sqrt(variance) if variance > 0 else 0.0
    return observed, expected, float(z)


def _lag_correlation(codes: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Lag-1 rank correlation of neighbouring rows within blocks, and its z."""
    ranks = rankdata(codes)
    left, right = ranks[:-1][same], ranks[1:][same]
    if len(left) < 3 or np.ptp(left) == 0 or np.ptp(right) == 0:
        return 0.0, 0.0
    r = float(np.corrcoef(left, right)[0, 1])
    return r, r * np.sqrt(len(left))


def _near_duplicates(X: np.ndarray, seed: int) -> str:
    """The near-duplicate evidence in words, or "" (see the module)."""
    rng = np.random.default_rng(seed)
    probe = X[rng.choice(len(X), size=min(len(X), 4 * _SAMPLE), replace=False)]
    levels = 1 + np.count_nonzero(np.diff(np.sort(probe, axis=0), axis=0), axis=0)
    X = X[:, levels > DISCRETE_LEVELS]
    n, p = X.shape
    if p < 5 or n <= NEIGHBOURS:
        return ""
    scale = X.std(axis=0)
    Z = ((X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)).astype(np.float64)
    sample = np.sort(rng.choice(n, size=min(n, _SAMPLE), replace=False))
    nearest = np.full((len(sample), NEIGHBOURS), np.inf)
    squared = (Z**2).sum(axis=1)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        distance = squared[sample, None] + squared[None, start:stop] \
            - 2.0 * Z[sample] @ Z[start:stop].T
        own = (sample >= start) & (sample < stop)
        distance[np.flatnonzero(own), sample[own] - start] = np.inf
        both = np.concatenate([nearest, distance], axis=1)
        nearest = np.partition(both, NEIGHBOURS - 1, axis=1)[:, :NEIGHBOURS]
    nearest = np.sqrt(np.clip(np.sort(nearest, axis=1), 0.0, None))
    close = nearest[:, 0] <= DUPLICATE_DISTANCE * nearest[:, -1]
    if close.mean() < DUPLICATE_SHARE:
        return ""
    return (f"{int(close.sum())} of {len(sample)} sampled rows ({close.mean():.0%}) have a "
            f"near-duplicate feature row (closer than a tenth of their {NEIGHBOURS}th "
            "nearest row)")
