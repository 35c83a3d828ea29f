"""The report's section on the holdout's seal and the claims checked against it since."""

from __future__ import annotations

from typing import Any

from embaudit.reports.tables import Interval, Table, build_table, not_computed
from embaudit.results import AuditResult

#: ledger columns the HTML and Markdown reports show (report.json has every column)
LEDGER_DISPLAY = ("number", "checked_at", "claim", "axis", "n", "effect", "ci_low",
                  "ci_high", "p", "level", "wealth", "decision", "seen_in_report")


def seal_sentence(result: AuditResult) -> str:
    """What the seal is and what the reports show of the holdout."""
    seal = result.seal
    made = seal["made_at"]
    when = "when the audit was saved (time not recorded)" if made == "not recorded" \
        else f"on {made}"
    head = (f"The holdout ({len(result.split.holdout)} rows) was sealed {when}: split "
            f"SHA-256 {seal['split_sha256'][:12]}…, holdout lifespans SHA-256 "
            f"{seal['holdout_lifespans_sha256'][:12]}…. ")
    if seal["sealed"]:
        shown = ("These reports show holdout numbers only for the hypotheses the audit "
                 "tested there (found, or read off an axis); the others say \"sealed\", so "
                 "the holdout can still confirm a claim about them. ")
    else:
        shown = ("These reports are not sealed: they show every hypothesis's holdout "
                 "numbers, so a later claim about any of these attributes is marked as seen. ")
    return head + shown + (
        "Claims checked against the holdout (embaudit check --audit) enter the ledger "
        "below in order; each is decided at the level LORD++ gives it after every claim "
        f"before it (online FDR {result.config.statistics.alpha:g}).")


def ledger_table(result: AuditResult) -> Table:
    """The ledger as the reports print it (no rows: no claims yet), the effect with its
    interval in one cell."""
    claims = result.claims
    columns = [Interval("effect", "ci_low", "ci_high", "CI") if c == "effect" else c
               for c in LEDGER_DISPLAY if c in claims.columns and c not in ("ci_low",
                                                                           "ci_high")]
    return build_table(claims.to_dict(orient="records"), columns, _ledger_why)


def _ledger_why(key: str, row: dict[str, Any]) -> str:
    """Why a claim has no value in column ``key``."""
    if key == "axis":
        return "no axis"
    if key in ("effect", "p"):
        return "not tested"
    return not_computed(key, row)
