"""The results store (DuckDB + Parquet)."""

from embaudit.store.store import DATABASE, AuditStore

__all__ = ["DATABASE", "AuditStore"]
