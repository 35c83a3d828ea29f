"""DuckDB rows of the results store: replacing a member's or chunk's rows in one
statement set, columns added for stores begun by older versions, text columns typed."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pandas as pd

__all__ = ["plain_text", "record_chunk_files", "replace_rows", "table_names"]


def replace_rows(connection: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame,
                 keys: Sequence[str], key: str = "member_id") -> None:
    """Replace the rows of table ``name`` whose ``key`` is in ``keys`` with ``frame``'s;
    a column the table lacks (a store begun by an older version) is added, empty for its
    earlier rows, so resuming it keeps the finished work."""
    connection.register("incoming", plain_text(frame))
    exists = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()[0][0]
    if not exists:
        connection.execute(f'CREATE TABLE "{name}" AS SELECT * FROM incoming LIMIT 0')
    else:
        have = {row[0] for row in connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
            [name]).fetchall()}
        added = [c for c in frame.columns if c not in have]
        if added:
            types = dict(connection.execute("SELECT column_name, column_type FROM "
                                            "(DESCRIBE SELECT * FROM incoming)").fetchall())
            for column in added:
                connection.execute(f'ALTER TABLE "{name}" ADD COLUMN "{column}" '
                                   f"{types[column]}")
    connection.register("replaced", pd.DataFrame({key: list(keys)}))
    connection.execute(f'DELETE FROM "{name}" WHERE "{key}" IN '
                       f"(SELECT {key} FROM replaced)")
    connection.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM incoming')
    connection.unregister("incoming")
    connection.unregister("replaced")


def record_chunk_files(connection: duckdb.DuckDBPyConnection, files: pd.DataFrame) -> None:
    """Record the checksums of one chunk's files (table ``chunk_files``)."""
    connection.execute("CREATE TABLE IF NOT EXISTS chunk_files (regime VARCHAR, chunk VARCHAR, "
                       "suffix VARCHAR, sha256 VARCHAR)")
    connection.execute("DELETE FROM chunk_files WHERE regime = ? AND chunk = ?",
                       [files["regime"].iloc[0], files["chunk"].iloc[0]])
    connection.register("written", files)
    connection.execute("INSERT INTO chunk_files BY NAME SELECT * FROM written")
    connection.unregister("written")


def table_names(connection: duckdb.DuckDBPyConnection) -> set[str]:
    """The store's tables."""
    return {row[0] for row in connection.execute("SHOW TABLES").fetchall()}


def plain_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as pandas strings, which DuckDB stores as VARCHAR even when empty
    or all missing (an object column without values has no type to infer)."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype == object and values.map(lambda v: isinstance(v, str)).any() and \
                values.map(lambda v: v is None or v is pd.NA or isinstance(v, str)).all():
            out[column] = values.astype("string")
    return out
