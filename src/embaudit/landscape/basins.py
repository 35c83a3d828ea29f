"""Basins of minima at absolute heights: the disconnectivity graph and monotonic
sequence basins.

Inputs are one landscape's minima: their losses ``energies (n,)`` and ``saddles (n, n)``,
the absolute height of the lowest measured path between two minima (NaN where no path
was measured). A path contains its end points, so a saddle is never below either end.

* **Disconnectivity graph** (Becker & Karplus 1997; Wales' energy-landscape books): two
  minima share a basin at level ``L`` when some chain of measured paths joins them with
  every saddle at or below ``L``. Merges happen at absolute saddle heights, so a chain
  through a high saddle is never hidden by a lower one elsewhere. Union-find over the
  edges in order of height; with every pair measured this is scipy's single linkage on
  the saddle heights (a test).
* **Monotonic sequence basins** (Berry & Kunz 1995; applied to machine-learning
  landscapes in the thesis "On Machine Learning Loss Landscapes"): keep only *direct*
  connections (an edge whose saddle no route through another minimum beats), let every
  minimum step to the lower neighbour it reaches over the lowest saddle, and follow the
  steps down: minima that end at the same bottom share a basin. No threshold.

``topsearch`` (IBM's energy-landscape package from that thesis' group, MIT) defines both
on its kinetic transition networks: basins at a level as the connected components
left after removing transition states above it (``plotting/disconnectivity.py``; it
scans a grid of levels, this module merges at the exact heights), and basin bottoms
as minima with no lower direct neighbour (``analysis/batch_selection.py``; labelling
every other minimum by the lowest saddle downhill, and keeping only direct connections
of measured paths, are this module's additions). Not a dependency: 0.0.3 pins
numpy < 2 and rdkit, and sets matplotlib's ``text.usetex`` on import.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import minimum_spanning_tree


@dataclass(frozen=True)
class DisconnectivityGraph:
    """Minima merged at the absolute heights of the saddles joining them."""

    energies: np.ndarray  # (n,)
    saddles: np.ndarray  # (n, n) symmetric, NaN where no path was measured
    # (k, 4) rows (left, right, height, size) in scipy's linkage format; k = n - 1 when
    # the measured paths join every minimum, fewer when some never join
    merges: np.ndarray

    @property
    def n_minima(self) -> int:
        return len(self.energies)

    def basins(self, level: float) -> np.ndarray:
        """Per minimum its basin at ``level`` (absolute loss): minima joined by saddles
        at or below it share one. Labels 1..k, numbered by their first minimum."""
        roots = _UnionFind(self.n_minima)
        for i, j in zip(*np.triu_indices(self.n_minima, 1), strict=True):
            if self.saddles[i, j] <= level:
                roots.join(int(i), int(j))
        return _numbered([roots.find(i) for i in range(self.n_minima)])

    def merge_height(self, i: int, j: int) -> float:
        """The lowest level at which minima ``i`` and ``j`` share a basin (inf if none)."""
        if i == j:
            return float(self.energies[i])
        roots = _UnionFind(self.n_minima)
        for left, right, height in _sorted_edges(self.saddles):
            roots.join(left, right)
            if roots.find(i) == roots.find(j):
                return height
        return float("inf")


def disconnectivity_graph(energies: np.ndarray, saddles: np.ndarray
                          ) -> DisconnectivityGraph:
    """The graph of ``energies`` joined by ``saddles`` (raised to the higher end where a
    measured value dips below it, e.g. by rounding)."""
    energies = np.asarray(energies, dtype=float)
    n = len(energies)
    saddles = np.asarray(saddles, dtype=float)
    if saddles.shape != (n, n):
        raise ValueError(f"saddles of shape {saddles.shape} for {n} minima: give an "
                         "(n, n) matrix of path heights")
    heights = np.fmax(saddles, saddles.T)  # one value per pair, NaN only if both are
    heights = np.where(np.isnan(heights), np.nan,
                       np.maximum(heights, np.maximum.outer(energies, energies)))
    np.fill_diagonal(heights, energies)
    roots, clusters, sizes = _UnionFind(n), list(range(n)), [1] * n
    merges = []
    for i, j, height in _sorted_edges(heights):
        a, b = roots.find(i), roots.find(j)
        if a == b:
            continue
        merges.append((min(clusters[a], clusters[b]), max(clusters[a], clusters[b]),
                       height, sizes[a] + sizes[b]))
        root = roots.join(a, b)
        clusters[root], sizes[root] = n + len(merges) - 1, sizes[a] + sizes[b]
    return DisconnectivityGraph(energies, heights,
                                np.array(merges, dtype=float).reshape(-1, 4))


def monotonic_sequence_basins(energies: np.ndarray, saddles: np.ndarray) -> np.ndarray:
    """Per minimum its monotonic sequence basin (labels 1..k, numbered by first
    minimum; see the module docstring)."""
    graph = disconnectivity_graph(energies, saddles)
    heights, n = graph.saddles, graph.n_minima
    direct = np.isfinite(heights)
    np.fill_diagonal(direct, False)
    for i, j in zip(*np.nonzero(direct), strict=True):
        via = np.maximum(heights[i], heights[j])  # through each other minimum k (an
        # unmeasured leg is no route: NaN stays NaN)
        via[[i, j]] = np.inf
        if np.nanmin(via, initial=np.inf) < heights[i, j]:
            direct[i, j] = False
    step = np.arange(n)
    for i in range(n):
        lower = np.flatnonzero(direct[i] & (graph.energies < graph.energies[i]))
        if lower.size:  # the lowest saddle; ties go to the deeper minimum
            step[i] = lower[np.lexsort((graph.energies[lower], heights[i, lower]))[0]]
    bottoms = step.copy()
    for _ in range(n):
        bottoms = step[bottoms]
    return _numbered(list(bottoms))


def spanning_edges(heights: np.ndarray) -> list[tuple[int, int]]:
    """Pairs on a minimum spanning tree of the (complete) height matrix: the only pairs
    whose saddles the disconnectivity graph reads."""
    n = len(heights)
    if n < 2:
        return []
    # shift so that zero heights stay edges (csgraph treats 0 as "no edge")
    weights = np.triu(heights - np.nanmin(heights) + 1.0, 1)
    tree = minimum_spanning_tree(np.nan_to_num(weights, nan=0.0)).tocoo()
    return sorted((min(int(i), int(j)), max(int(i), int(j)))
                  for i, j in zip(tree.row, tree.col, strict=True))


def _sorted_edges(heights: np.ndarray) -> list[tuple[int, int, float]]:
    i, j = np.triu_indices(len(heights), 1)
    values = heights[i, j]
    keep = np.isfinite(values)
    order = np.argsort(values[keep], kind="stable")
    return [(int(a), int(b), float(h)) for a, b, h in
            zip(i[keep][order], j[keep][order], values[keep][order], strict=True)]


def _numbered(roots: list[int]) -> np.ndarray:
    """Labels 1..k in order of each label's first appearance."""
    return pd.factorize(np.asarray(roots))[0] + 1


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> int:
        a, b = self.find(i), self.find(j)
        self.parent[max(a, b)] = min(a, b)
        return min(a, b)
