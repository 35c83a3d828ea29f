"""The claims ledger: every claim ever checked against an audit's holdout, in order.

Rows are only ever appended, each check's rows in one DuckDB transaction (a process
killed during a check leaves the ledger as it was before it, never half a claim). Each
row carries the SHA-256 of its content chained to the row before it, so an edited,
removed or reordered row is refused by its number when the ledger is read — the same
protection, and the same limit, as the chunk files' checksums: damage and careless
edits are caught, a deliberate rewrite of the whole chain is not.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np
import pandas as pd

from embaudit.errors import ConfigError
from embaudit.store.store import AuditStore

LEDGER = "claims"
#: the ledger's columns, in order (``docs/store.md``)
LEDGER_COLUMNS = (
    "number", "checked_at", "claim", "attribute", "direction", "axis", "regime",
    "data_sha256", "n", "effect", "ci_low", "ci_high", "p", "level", "wealth",
    "decision", "seen_in_report", "rule", "previous_sha256", "sha256",
)
#: the columns a row's checksum covers (all but the checksum itself)
_CONTENT = LEDGER_COLUMNS[:-1]
_START = "0" * 64
#: the seal's time when the audit did not record one (an older store)
NOT_RECORDED = "not recorded"
_INTEGERS = {"number", "axis", "n"}
_FLOATS = {"effect", "ci_low", "ci_high", "p", "level", "wealth"}


def read_ledger(store: AuditStore) -> pd.DataFrame:
    """The ledger in check order, its chain verified (empty when nothing was checked)."""
    stored = store.read_tables([LEDGER]).get(LEDGER)
    if stored is None:
        return pd.DataFrame(columns=list(LEDGER_COLUMNS))
    ledger = stored.sort_values("number", kind="stable")
    ledger = ledger.reset_index(drop=True)
    previous = _START
    for position, row in enumerate(ledger.to_dict("records"), start=1):
        if int(row["number"]) != position:
            raise ConfigError(_tampered(store, position, "is missing (the numbers jump to "
                                        f"{int(row['number'])})"))
        if row["previous_sha256"] != previous or row_sha256(row) != row["sha256"]:
            raise ConfigError(_tampered(store, position, f"({row['claim']!r}) was changed "
                                        "after it was recorded"))
        previous = row["sha256"]
    return ledger


def append_claims(store: AuditStore, rows: list[dict[str, Any]],
                  ledger: pd.DataFrame | None = None) -> pd.DataFrame:
    """Number, chain and append ``rows`` (their ``LEDGER_COLUMNS`` but the first and the
    two checksums) in one transaction; the ledger as it is afterwards. ``ledger``: the
    verified ledger, when the caller read it under the store's lock already."""
    ledger = read_ledger(store) if ledger is None else ledger
    previous = ledger["sha256"].iloc[-1] if len(ledger) else _START
    complete = []
    for offset, row in enumerate(rows, start=len(ledger) + 1):
        full = {**row, "number": offset, "previous_sha256": previous}
        full["sha256"] = previous = row_sha256(full)
        complete.append({c: full[c] for c in LEDGER_COLUMNS})
    frame = pd.DataFrame(complete, columns=list(LEDGER_COLUMNS)).astype(
        {c: "Int64" if c == "axis" else "int64" for c in _INTEGERS}
        | dict.fromkeys(_FLOATS, "float64") | {"seen_in_report": "bool"}
        | {c: "string" for c in LEDGER_COLUMNS if c not in _INTEGERS | _FLOATS
           and c != "seen_in_report"})  # typed even when a whole check leaves one empty
    store.append_rows(LEDGER, frame)
    return pd.concat([ledger, frame], ignore_index=True) if len(ledger) else frame


def row_sha256(row: dict[str, Any]) -> str:
    """SHA-256 of a ledger row's content (every column but ``sha256``)."""
    content = {c: _plain(row[c], c) for c in _CONTENT}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _plain(value: Any, column: str) -> Any:
    """The column's value as JSON, the same before and after a round trip through
    DuckDB (which may give a nullable integer back as a float)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if column in _INTEGERS:
        return int(value)
    if column in _FLOATS:
        return repr(float(value))
    if column == "seen_in_report":
        return bool(value)
    return str(value)


def _tampered(store: AuditStore, number: int, what: str) -> str:
    return (f"Claim {number} of the ledger in {str(store.folder)!r} {what}; the ledger "
            "no longer says which claims were checked against the holdout, so no claim "
            "can be checked or reported from it. Restore audit.duckdb from a copy, or "
            "run the audit into a new folder (a new holdout) and check there.")


def holdout_seal(discovery: np.ndarray, holdout: np.ndarray, lifespans: np.ndarray,
                 events: np.ndarray | None, sealed: bool, made_at: str) -> dict[str, Any]:
    """The seal an audit records on its holdout: whether its reports withhold holdout
    numbers, when the split was made, and hashes of the split and of the holdout rows'
    lifespans (a check refuses a holdout whose lifespans no longer match)."""
    split = hashlib.sha256()
    for name, rows in (("discovery", discovery), ("holdout", holdout)):
        split.update(name.encode() + np.sort(np.asarray(rows, dtype=np.int64)).tobytes())
    return {"sealed": bool(sealed), "made_at": made_at,
            "split_sha256": split.hexdigest(),
            "holdout_lifespans_sha256": holdout_lifespans_sha256(holdout, lifespans, events)}


def holdout_lifespans_sha256(holdout: np.ndarray, lifespans: np.ndarray,
                             events: np.ndarray | None) -> str:
    """SHA-256 of the holdout rows' lifespans (and events), in row order."""
    rows = np.sort(np.asarray(holdout, dtype=np.int64))
    digest = hashlib.sha256(np.asarray(lifespans, dtype=np.float64)[rows].tobytes())
    if events is not None:
        digest.update(np.asarray(events, dtype=np.int64)[rows].tobytes())
    return digest.hexdigest()
