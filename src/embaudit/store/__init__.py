"""The results store (DuckDB + Parquet): members as they finish, results once decided."""

from embaudit.store.files import atomic_path
from embaudit.store.identity import audit_identity, open_audit, save_results, versions
from embaudit.store.store import DATABASE, AuditStore, metadata_frame

__all__ = ["DATABASE", "AuditStore", "atomic_path", "audit_identity", "metadata_frame",
           "open_audit", "save_results", "versions"]
