"""The results store (DuckDB + Parquet)."""

from embaudit.store.store import DATABASE, AuditStore, metadata_frame

__all__ = ["DATABASE", "AuditStore", "metadata_frame"]
