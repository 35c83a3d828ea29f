"""Basins of minima: single linkage on the barrier matrix is the disconnectivity graph
(the height at which two groups merge is the lowest barrier a path between them must
cross); minima joined at or below a threshold share a basin."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import squareform


@dataclass(frozen=True)
class Basins:
    """A disconnectivity graph of ``n`` minima and its basins at one barrier height."""

    linkage: np.ndarray  # scipy linkage matrix, (n - 1, 4)
    labels: np.ndarray  # (n,) basin of each minimum, 1..k, numbered by first member
    threshold: float

    @property
    def n_basins(self) -> int:
        return int(self.labels.max()) if len(self.labels) else 0


def spanning_edges(barriers: np.ndarray) -> list[tuple[int, int]]:
    """Pairs on a minimum spanning tree of the barrier graph: the only barriers single
    linkage reads (lowering one of them cannot drop it from the tree)."""
    n = len(barriers)
    if n < 2:
        return []
    # shift so that zero barriers stay edges (csgraph treats 0 as "no edge")
    weights = np.triu(barriers - barriers.min() + 1.0, 1)
    tree = minimum_spanning_tree(weights).tocoo()
    return sorted((min(int(i), int(j)), max(int(i), int(j)))
                  for i, j in zip(tree.row, tree.col, strict=True))


def find_basins(barriers: np.ndarray, threshold: float) -> Basins:
    """Single linkage on the symmetric ``barriers`` (negative barriers count as 0);
    minima joined at or below ``threshold`` share a basin."""
    n = len(barriers)
    if n < 2:
        return Basins(np.zeros((0, 4)), np.ones(n, dtype=int), threshold)
    heights = np.clip((barriers + barriers.T) / 2, 0, None)
    np.fill_diagonal(heights, 0)
    tree = linkage(squareform(heights, checks=False), method="single")
    raw = fcluster(tree, t=threshold, criterion="distance")
    # number basins by their first member, so labels do not depend on scipy's order
    first = {label: i for i, label in reversed(list(enumerate(raw)))}
    order = {label: k + 1 for k, label in enumerate(sorted(first, key=first.get))}
    return Basins(tree, np.array([order[label] for label in raw]), threshold)
