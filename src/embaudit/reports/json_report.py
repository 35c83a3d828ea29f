"""The report's content as plain data: the versioned JSON document and the shared tables.

Every format (JSON, HTML, Markdown) is built from the same pieces here, so they never
disagree. ``report_json`` is a public contract (``SCHEMA_VERSION``); its only
non-deterministic key is ``generated_at`` (fixed by ``SOURCE_DATE_EPOCH`` when set).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from embaudit.core.schema import (
    AGREEMENT_COLUMNS,
    CROSSFIT_COLUMNS,
    HYPOTHESIS_COLUMNS,
    REGIME_COLUMNS,
)
from embaudit.errors import ConfigError
from embaudit.landscape import Landscape
from embaudit.results import AuditResult
from embaudit.store.compute import compute_paths, mixed_note
from embaudit.store.ledger import LEDGER_COLUMNS

#: 3.3: censored tests from one model, events_required, holdout_note; 3.2: the landscape
#: on one loss per group; 3.1: the seal and the claims ledger; 3.0: the three procedures
SCHEMA_VERSION = "3.4"

#: per-member diagnostics summarized by their median in ``member_summary``
_FLAG_COLUMNS = ("reached_target", "no_better_than_linear")
_MEDIAN_COLUMNS = ("train_loss", "validation_loss", "holdout_loss", "ridge_holdout_loss",
                   "epochs", "dead_units", "effective_rank", "disparity", "protest_p", "cka")


def generated_now() -> str:
    """The time of generation (UTC, to the second), or the moment ``SOURCE_DATE_EPOCH``
    names when it is set (the reproducible-builds convention): reports byte-identical
    across runs."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return datetime.now(UTC).isoformat(timespec="seconds")
    if not epoch.isdigit():
        raise ConfigError(f"SOURCE_DATE_EPOCH={epoch!r} is not a whole number of seconds since "
                          "1970; unset it or set it to e.g. 1700000000.")
    return datetime.fromtimestamp(int(epoch), UTC).isoformat(timespec="seconds")


def report_json(result: AuditResult, generated_at: str | None = None) -> dict[str, Any]:
    """The machine-readable report: strict JSON types only (NaN/inf/NA become ``None``)."""
    position = result.position
    table, split = result.table, result.split
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": generated_at or generated_now(),
        "verdict": {
            "position": position.position,
            "summary": position.summary,
            "regime": position.regime,
            "p_value": position.p_value,
            "comparison": position.comparison,
            "procedures": position.procedures,
            "network": position.network,
            "independence": position.independence,
        },
        "regimes": records(result.regimes, REGIME_COLUMNS),
        "hypotheses": records(reported_hypotheses(result), [*HYPOTHESIS_COLUMNS, "sealed"]),
        "members": records(member_summary(result.members)),
        "skipped": records(result.skipped),
        "data": {
            "sha256": result.data_sha256,
            "n_rows": table.n_rows,
            "n_discovery": len(split.discovery),
            "n_holdout": len(split.holdout),
            "n_features": len(table.features),
            "attribute_columns": [c.name for c in table.attribute_columns],
            "roles": table.roles(),
        },
        # where the files go and which machines computed them change no result
        "config": result.config.model_dump(mode="json", exclude={"out", "execution"}),
        "versions": dict(result.versions),
        "seal": dict(result.seal),
        "claims": records(result.claims, LEDGER_COLUMNS),
    }
    if result.truth is not None:
        document["truth"] = dict(result.truth)
    if not result.compute.empty:
        document["compute"] = {"paths": records(compute_paths(result.compute)),
                               "note": mixed_note(result.compute)}
    if result.landscape is not None:
        document["landscape"] = landscape_section(result.landscape)
    if not result.crossfit.empty:
        document["crossfit"] = {
            "summary": records(result.crossfit_rates),
            "attributes": records(result.crossfit_agreement, AGREEMENT_COLUMNS),
            "folds": records(result.crossfit, CROSSFIT_COLUMNS),
        }
    return jsonable(document)


def landscape_section(landscape: Landscape) -> dict[str, Any]:
    """The loss landscape for machines: every table, and the headline sentence."""
    return {
        "headline": landscape.headline(),
        "paragraphs": landscape.paragraphs(),
        "members": records(landscape.members),
        "pairs": records(landscape.pairs),
        "basins": records(landscape.basins),
        "linkage": records(landscape.linkage),
        "features": records(landscape.features),
        "paths": records(landscape.paths),
        "optimizers": records(landscape.optimizers),
        "association": records(landscape.association),
        "map_separation": records(landscape.map_separation),
    }


def records(frame: pd.DataFrame, columns: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-ready dicts, in order.

    ``columns`` come first and are always present (``None`` where the frame lacks one);
    any other columns of the frame follow.
    """
    names = list(columns) + [c for c in frame.columns if c not in columns]
    return [
        {name: jsonable(row.get(name)) for name in names}
        for row in frame.to_dict(orient="records")
    ]


def jsonable(value: Any) -> Any:
    """``value`` with only JSON types: numpy scalars unwrapped, missing/non-finite → None."""
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, np.ndarray | list | tuple | pd.Series | pd.Index):
        return [jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, date):
        return value.isoformat()
    # anything else (paths, decimals, ...) as its text: a report must not fail at the end
    # of a long audit over a cell's type
    return str(value)


def member_summary(members: pd.DataFrame) -> pd.DataFrame:
    """Training diagnostics per regime and member kind: counts and medians.

    ``n_reached_target`` counts overfit members whose training loss reached the target;
    ``n_no_better_than_linear`` counts members whose holdout loss was no better than a
    ridge fit on their own rows (each missing where it does not apply).
    """
    if members.empty or not {"regime", "kind"} <= set(members.columns):
        return pd.DataFrame(columns=["regime", "kind", "n_members"])
    keys = [members["regime"], members["kind"]]
    summary = members.groupby(keys, sort=False).size().rename("n_members").to_frame()
    for flag in _FLAG_COLUMNS:
        if flag in members.columns:
            known = members[flag].notna().groupby(keys, sort=False).sum()
            hit = members[flag].eq(True).groupby(keys, sort=False).sum()
            summary[f"n_{flag}"] = pd.array(hit.where(known > 0), dtype="Int64")
    for column in _MEDIAN_COLUMNS:
        if column in members.columns:
            values = pd.to_numeric(members[column], errors="coerce")
            summary[f"median_{column}"] = values.groupby(
                [members["regime"], members["kind"]], sort=False).median()
    return summary.reset_index()


def truth_column(result: AuditResult) -> pd.Series | None:
    """The planted truth of each hypothesis's attribute ("+", "-", "0"), or None."""
    h = result.hypotheses
    if "truth" in h.columns:
        return h["truth"]
    if result.truth is None:
        return None
    by_name = h["attribute"].map(result.truth)
    return by_name.fillna(h["source_attribute"].map(result.truth))


def format_cell(value: Any, column: str = "") -> str:
    """A table cell as short text: p-values to 3 significant digits, rates to 3 decimals."""
    value = jsonable(value)
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if column.startswith(("p_", "q_")) or column in ("p", "level"):
            return "< 1e-16" if value < 1e-16 else f"{value:.3g}"
        if column.endswith("_loss"):
            return f"{value:.3g}"
        if column.startswith("median_"):
            return f"{value:.4g}"
        return f"{value:.3f}"
    return str(value)


#: columns of the regimes (Person A vs B) table in the HTML and Markdown reports
REGIME_DISPLAY = ("regime", "n_read", "n_read_replicated", "n_axes_generalized", "n_found",
                  "n_survives", "n_distinct", "n_direct_leads", "n_only_axis", "n_axis_lost",
                  "read_effect", "null_effect", "advantage", "advantage_low",
                  "advantage_high", "p_advantage", "axes_generalized", "comparable",
                  "position", "holdout_loss", "no_better_than_linear", "effect_vs_lead",
                  "axes_vs_lead")
#: columns of the hypotheses table in the HTML and Markdown reports
HYPOTHESIS_DISPLAY = ("regime", "attribute", "kind", "axis", "direction", "strength",
                      "r_axis_attribute", "r_axis_lifespan", "p_carried", "read",
                      "p_association", "p_discovery", "found", "p_retrained",
                      "effect_holdout", "ci_low", "ci_high", "p_holdout", "q_holdout",
                      "q_reading", "replicates", "p_embedding", "axis_generalizes",
                      "sign_consistency", "selection_frequency", "oob_replication",
                      "n_holdout", "n_required", "events_required", "holdout_note",
                      "verdict", "explained_by", "truth")
#: what each position means, in words
POSITION_TEXT = {
    "A": "Person A: attributes read off the {regime} embedding are useful leads",
    "B": "Person B: attributes read off the {regime} embedding replicate no better than "
         "chance readings",
    "undecided": "Undecided: the data cannot settle it yet",
}


def position_meaning(result: AuditResult) -> str:
    """What the position means, naming the regime it was decided on."""
    position = result.position
    return POSITION_TEXT.get(position.position, position.position).format(
        regime=position.regime)


#: hypothesis columns computed on the holdout rows: a sealed report shows them only for
#: the hypotheses the audit itself tested there (found, or read)
HOLDOUT_COLUMNS = ("effect_holdout", "ci_low", "ci_high", "p_holdout", "q_holdout",
                   "r_axis_attribute_holdout", "r_axis_lifespan_holdout", "p_embedding",
                   "axis_generalizes", "q_reading", "replicates", "n_required",
                   "events_required", "holdout_note", "explained_by")


def sealed_rows(result: AuditResult) -> pd.Series:
    """Hypotheses whose holdout numbers a sealed report withholds: neither found nor read
    (none when the audit's reports are not sealed)."""
    h = result.hypotheses
    if not result.config.sealed:
        return pd.Series(False, index=h.index)
    tested = h["found"].fillna(False).astype(bool) | h["read"].fillna(False).astype(bool)
    return ~tested


def reported_hypotheses(result: AuditResult) -> pd.DataFrame:
    """The hypotheses as the reports may show them: sealed rows' holdout numbers missing,
    and column ``sealed`` saying which rows those are."""
    view = result.hypotheses.copy()
    sealed = sealed_rows(result)
    for column in HOLDOUT_COLUMNS:
        if column in view.columns:
            view[column] = view[column].astype(object).where(~sealed, None)
    view["sealed"] = sealed.to_numpy()
    return view


def hypotheses_view(result: AuditResult) -> pd.DataFrame:
    """The hypotheses table as the reports print it: sealed holdout cells say "sealed",
    and the planted truth (when known) is column ``truth``."""
    view = reported_hypotheses(result)
    sealed = view.pop("sealed").to_numpy(dtype=bool)
    for column in HOLDOUT_COLUMNS:
        if column in view.columns:
            view.loc[sealed, column] = "sealed"
    truth = truth_column(result)
    if truth is not None:
        view["truth"] = truth
    return view


def manifest(result: AuditResult) -> dict[str, Any]:
    """What reproduces the audit: versions, data hash and roles, seed, config (JSON types)."""
    return jsonable({
        "data_sha256": result.data_sha256,
        "seed": result.config.seed,
        "n_rows": result.table.n_rows,
        "roles": result.table.roles(),
        "versions": result.versions,
        "compute": {"paths": records(compute_paths(result.compute)),
                    "note": mixed_note(result.compute)},
        # where the files go and which machines computed them change no result
        "config": result.config.model_dump(mode="json", exclude={"out", "execution"}),
    })
