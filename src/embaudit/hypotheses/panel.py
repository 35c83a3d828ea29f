"""The regime panel: every regime's verdicts, the panel's rows, and the position.

One function turns the evidence of every regime into what an audit reports, so the
lead regime is chosen once (:func:`embaudit.core.regimes.lead_regime`), the direct
screen (no network) is computed once, and every comparison reads the same verdicts and
the same covariance of the holdout effects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from embaudit.config import AuditConfig
from embaudit.core.regimes import lead_regime
from embaudit.core.schema import Position
from embaudit.data.table import AttributeColumn
from embaudit.hypotheses.comparison import (
    compare_with_lead,
    network_sentence,
    procedures_sentence,
    regime_comparison,
)
from embaudit.hypotheses.distinct import PartialTest, explained_by
from embaudit.hypotheses.evidence import RegimeEvidence
from embaudit.hypotheses.inference import HoldoutAssociation
from embaudit.hypotheses.position import decide_position, regime_row, summarize_readings
from embaudit.hypotheses.readings import holdout_covariance
from embaudit.hypotheses.verdicts import (
    DirectScreen,
    RegimeAssessment,
    assess_regime,
    attribute_families,
    direct_screen,
)


@dataclass(frozen=True, eq=False)
class PanelDecision:
    """The hypotheses of every regime, the panel's rows, and the lead regime's position."""

    hypotheses: pd.DataFrame
    skipped: pd.DataFrame
    regimes: pd.DataFrame
    position: Position
    lead_regime: str


@dataclass(frozen=True)
class HoldoutRows:
    """What the distinct-leads check reads of the holdout: its attribute columns and the
    partial test of one column given others."""

    attributes: np.ndarray
    partial_test: PartialTest


def decide_panel(
    evidence: Sequence[RegimeEvidence],
    holdout: HoldoutAssociation,
    columns: Sequence[AttributeColumn],
    members: pd.DataFrame,
    config: AuditConfig,
    truth: Mapping[str, str] | None = None,
    rows: HoldoutRows | None = None,
    independence: str = "",
) -> PanelDecision:
    """Judge every regime's candidates, compare the regimes, and decide the position on
    the lead regime (``truth``, attribute → "+"/"-"/"0", is added as a column).

    ``rows`` lets survivors be checked for proxies of one another (without it every
    survivor counts as distinct); ``independence`` is the sentence on whether rows were
    taken as independent, carried into the position.
    """
    statistics = config.statistics
    families = attribute_families(columns)
    assessed = {e.regime: assess_regime(e, holdout, columns, statistics) for e in evidence}
    direct = direct_screen(evidence[0], holdout, families, statistics)
    covariance = holdout_covariance(holdout)
    summaries = {e.regime: summarize_readings(e, holdout, covariance, statistics)
                 for e in evidence}
    names = [c.name for c in columns]
    explained = {regime: _proxies(a, holdout, families, rows, statistics.alpha)
                 for regime, a in assessed.items()}
    panel = [regime_row(e, assessed[e.regime], summaries[e.regime], direct, members,
                        config.training.max_epochs, len(explained[e.regime]))
             for e in evidence]
    lead = lead_regime([e.regime for e in evidence])
    compare_with_lead(panel, summaries, lead, holdout, covariance, statistics, config.seed)
    positions = {row["regime"]: decide_position(row, members, config.resampling.n_permutations,
                                                holdout.n, statistics,
                                                config.training.max_epochs)
                 for row in panel}
    for row in panel:
        row["position"] = positions[row["regime"]].position
    first = next(r for r in panel if r["regime"] == lead)
    proxies = {names[c]: names[o] for c, o in explained[lead].items()}
    position = replace(
        positions[lead], comparison=regime_comparison(panel, lead, statistics),
        procedures=procedures_sentence(
            first, proxies, statistics.alpha,
            int((assessed[lead].replicates & ~assessed[lead].found).sum())),
        network=_network(assessed[lead], direct, lead, names), independence=independence)
    frames = [_with_proxies(a.frame, explained[r], names) for r, a in assessed.items()]
    if truth is not None:
        frames = [f.assign(truth=f["source_attribute"].map(truth)) for f in frames]
    return PanelDecision(
        hypotheses=pd.concat(frames, ignore_index=True),
        skipped=pd.concat([a.skipped for a in assessed.values()], ignore_index=True),
        regimes=pd.DataFrame(panel).astype({"rows_to_decide": "Int64"}),
        position=position,
        lead_regime=lead,
    )


def _proxies(assessment: RegimeAssessment, holdout: HoldoutAssociation,
             families: np.ndarray, rows: HoldoutRows | None, alpha: float
             ) -> dict[int, int]:
    """Survivor column → the survivor that explains it (none without holdout rows)."""
    survivors = np.flatnonzero(assessment.survives)
    if rows is None or len(survivors) < 2:
        return {}
    return explained_by(list(survivors), assessment.direction,
                        holdout.effect(assessment.direction), rows.attributes, families,
                        rows.partial_test, alpha)


def _with_proxies(frame: pd.DataFrame, explained: Mapping[int, int], names: Sequence[str]
                  ) -> pd.DataFrame:
    """The hypotheses table with each explained survivor's ``explained_by`` filled in."""
    if not explained:
        return frame
    by_name = {names[c]: names[o] for c, o in explained.items()}
    return frame.assign(explained_by=frame["attribute"].map(by_name).astype("string"))


def _network(assessment: RegimeAssessment, direct: DirectScreen, regime: str,
             names: Sequence[str]) -> str:
    """The lead regime's "what the network added" sentence from its masks."""
    a = assessment
    only_axis, lost = direct.gains(a)

    def named(mask: np.ndarray) -> list[str]:
        return [names[c] for c in np.flatnonzero(mask)]

    return network_sentence(
        regime, named(only_axis), named(lost), named(a.replicates & ~a.generalizes),
        int(a.replicates.sum()), int(a.read.sum()), int((a.read & a.generalizes).sum()))
