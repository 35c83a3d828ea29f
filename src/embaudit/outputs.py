"""An audit's outputs in its folder: the store's result tables and the three reports,
and the reports written again from the store alone."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

from embaudit.reports import REPORT_FORMATS, generated_now, write_reports
from embaudit.results import AuditResult, load_result
from embaudit.store import AuditStore, audit_identity, save_results
from embaudit.store.ledger import NOT_RECORDED, read_ledger

__all__ = ["rebuild_reports", "save", "with_seal"]


def save(result: AuditResult, folder: str | Path) -> dict[str, Path]:
    """Write the results (DuckDB tables) and the three reports to ``folder``.

    Members were stored as they finished; this adds what the statistics found, and when
    the reports were generated (so :func:`rebuild_reports` can write them again).
    """
    store = AuditStore(folder)
    generated_at = generated_now()
    if result.seal.get("made_at") == NOT_RECORDED:
        result = with_seal(result, store, generated_at)
    save_results(store, result.tables(), {
        "identity": audit_identity(result.config, result.data_sha256),
        **result.metadata(), "generated_at": generated_at})
    return write_reports(result, Path(folder), generated_at)


def with_seal(result: AuditResult, store: AuditStore, now: str) -> AuditResult:
    """``result`` with its seal (made ``now``, or when the store first sealed the same
    split) and the store's claims ledger."""
    recorded = store.read_metadata().get("seal") or {}
    seal = result.make_seal(now)
    hashes = ("split_sha256", "holdout_lifespans_sha256")
    if all(recorded.get(k) == seal[k] for k in hashes):
        seal["made_at"] = recorded["made_at"]
    return replace(result, seal=seal, claims=read_ledger(store))


def rebuild_reports(folder: str | Path, formats: Collection[str] = REPORT_FORMATS
                    ) -> dict[str, Path]:
    """Write the reports of the finished audit in ``folder`` again, from its store alone:
    nothing is trained or recomputed, and ``report.json`` comes out byte-identical."""
    store = AuditStore(folder)
    result = load_result(folder)
    return write_reports(result, store.folder, store.read_metadata()["generated_at"],
                         formats)
