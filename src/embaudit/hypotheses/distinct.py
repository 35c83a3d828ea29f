"""Distinct leads: a survivor that another survivor explains is a proxy, not a second lead.

The survivors of a regime are taken strongest holdout effect first. Each is *distinct*
when its association with lifespan, partial on the distinct survivors before it, still
holds in its claimed direction on the holdout (one-sided p ≤ ``alpha``); otherwise it is
*explained by* the one of them it correlates with most (|Spearman| on the holdout rows).
A proxy correlated with a driver and with no effect of its own is explained by the
driver; two noisy measurements of one unmeasured cause count as one lead. The levels of
one categorical attribute never explain each other (they are exclusive by construction).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from embaudit.hypotheses.ranks import spearman_matrix

#: the one-sided holdout p of a column in a direction (+1 / -1), partial on ``given``
PartialTest = Callable[[int, Sequence[int], int], float]


def explained_by(survivors: Sequence[int], direction: np.ndarray, effects: np.ndarray,
                 attributes: np.ndarray, families: np.ndarray, test: PartialTest,
                 alpha: float) -> dict[int, int]:
    """For each survivor column explained by another, that other column (see the module).

    ``direction`` and ``effects``: every column's claimed direction and its holdout effect
    in it; ``attributes``: the holdout rows' attribute columns; ``families``: each
    column's attribute code.
    """
    order = sorted(survivors, key=lambda c: (-float(np.nan_to_num(effects[c])), c))
    distinct: list[int] = []
    explained: dict[int, int] = {}
    for column in order:
        given = [k for k in distinct if families[k] != families[column]]
        if given and not test(column, given, int(direction[column])) <= alpha:
            correlation = np.abs(spearman_matrix(attributes[:, column],
                                                 attributes[:, given])[0])
            explained[column] = given[int(np.argmax(np.nan_to_num(correlation)))]
        else:
            distinct.append(column)
    return explained
