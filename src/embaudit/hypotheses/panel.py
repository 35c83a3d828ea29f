"""The regime panel: every regime's verdicts, the panel's rows, and the position.

One function turns the evidence of every regime into what an audit reports, so the
lead regime is chosen once (:func:`embaudit.core.regimes.lead_regime`) and every
comparison reads the same verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pandas as pd

from embaudit.config import AuditConfig
from embaudit.core.regimes import lead_regime
from embaudit.core.schema import Position
from embaudit.data.table import AttributeColumn
from embaudit.hypotheses.evidence import RegimeEvidence
from embaudit.hypotheses.inference import HoldoutAssociation
from embaudit.hypotheses.position import (
    best_leads,
    compare_with_lead,
    decide_position,
    regime_row,
)
from embaudit.hypotheses.verdicts import assess_regime


@dataclass(frozen=True, eq=False)
class PanelDecision:
    """The hypotheses of every regime, the panel's rows, and the lead regime's position."""

    hypotheses: pd.DataFrame
    skipped: pd.DataFrame
    regimes: pd.DataFrame
    position: Position
    lead_regime: str


def decide_panel(
    evidence: Sequence[RegimeEvidence],
    holdout: HoldoutAssociation,
    columns: Sequence[AttributeColumn],
    members: pd.DataFrame,
    config: AuditConfig,
    truth: Mapping[str, str] | None = None,
) -> PanelDecision:
    """Judge every regime's candidates, compare the regimes, and decide the position on
    the lead regime (``truth``, attribute → "+"/"-"/"0", is added as a column)."""
    statistics = config.statistics
    assessed = {e.regime: assess_regime(e, holdout, columns, statistics) for e in evidence}
    rows = [regime_row(e, assessed[e.regime], holdout, statistics, members, config.seed)
            for e in evidence]
    lead = lead_regime([e.regime for e in evidence])
    compare_with_lead(rows, {r: a.survives for r, a in assessed.items()}, lead)
    positions = {row["regime"]: decide_position(row, members, config.resampling.n_permutations,
                                                holdout.n, statistics)
                 for row in rows}
    for row in rows:
        row["position"] = positions[row["regime"]].position
    position = replace(positions[lead], comparison=best_leads(rows, lead,
                                                              statistics.position_alpha))
    frames = [a.frame for a in assessed.values()]
    if truth is not None:
        frames = [f.assign(truth=f["source_attribute"].map(truth)) for f in frames]
    return PanelDecision(
        hypotheses=pd.concat(frames, ignore_index=True),
        skipped=pd.concat([a.skipped for a in assessed.values()], ignore_index=True),
        regimes=pd.DataFrame(rows),
        position=position,
        lead_regime=lead,
    )
