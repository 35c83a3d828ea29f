"""The report's hypotheses table in two layers (a compact view, the rest on demand) and
the reproducibility manifest in the form a reader scans."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from embaudit.reports.json_report import (
    HYPOTHESIS_DISPLAY,
    format_cell,
    hypotheses_view,
    manifest,
)
from embaudit.results import AuditResult

#: what a reader needs first: the claim, whether it was found, the holdout, the verdict
COMPACT = ("attribute", "regime", "axis", "direction", "read", "found",
           "holdout effect [CI]", "q_holdout", "verdict", "replicates", "axis_generalizes",
           "explained_by", "truth")
#: features listed by name in the manifest's summary line before "…"
_FEATURES_SHOWN = 12


@dataclass(frozen=True)
class HypothesisTable:
    """Header, rows, which columns are extra (behind the toggle), each row's regime."""

    header: list[str]
    rows: list[list[str]]
    extra: list[bool]
    regimes: list[str]

    @property
    def verdict_index(self) -> int:
        return self.header.index("verdict")


def hypothesis_table(result: AuditResult) -> HypothesisTable:
    """The compact columns first (the holdout effect with its interval in one cell),
    then every other column of the display, marked extra."""
    view = hypotheses_view(result)
    compact = [c for c in COMPACT if c in view.columns or c == "holdout effect [CI]"]
    rest = [c for c in HYPOTHESIS_DISPLAY if c in view.columns and c not in compact]
    rows = []
    for row in view.to_dict(orient="records"):
        cells = [_effect_cell(row) if c == "holdout effect [CI]" else format_cell(row[c], c)
                 for c in compact]
        rows.append(cells + [format_cell(row[c], c) for c in rest])
    return HypothesisTable(compact + rest, rows, [False] * len(compact) + [True] * len(rest),
                           [str(r) for r in view["regime"]])


def _effect_cell(row: dict[str, Any]) -> str:
    effect = format_cell(row["effect_holdout"], "effect_holdout")
    note = row.get("holdout_note")
    if effect == "–" and isinstance(note, str) and note:
        return f"not tested: {note}"
    if effect in ("–", "sealed"):
        return effect
    low, high = format_cell(row["ci_low"], "ci_low"), format_cell(row["ci_high"], "ci_high")
    return f"{effect} [{low}, {high}]"


def manifest_view(result: AuditResult) -> dict[str, Any]:
    """The manifest with the feature list summarized: its count, the names or patterns
    that chose the features, and the first few names (all of them kept for the page's
    expandable list)."""
    info = manifest(result)
    roles = dict(info["roles"])
    features = list(roles.pop("features"))
    chosen_by = result.config.data.features
    shown = ", ".join(features[:_FEATURES_SHOWN]) + (" …" if len(features) > _FEATURES_SHOWN
                                                      else "")
    return {
        **info,
        "roles": roles,
        "command": result.command,
        "features": {
            "count": len(features),
            "chosen_by": ", ".join(chosen_by) if chosen_by else
            "every numeric column without another role",
            "first": shown,
            "all": ", ".join(features),
        },
    }


def regime_order(frame: pd.DataFrame) -> list[str]:
    """The regimes of ``frame`` in the order they appear."""
    return list(dict.fromkeys(str(r) for r in frame["regime"]))
