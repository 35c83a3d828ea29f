"""The results store: ``audit.duckdb`` plus Parquet files, one folder per audit.

Tables go to DuckDB, arrays (embeddings, predictions) to Parquet. Every write is
atomic: it lands in a temporary file that replaces the target only once complete, so
an interrupted write never leaves a half-written store behind. No pickles.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

DATABASE = "audit.duckdb"


class AuditStore:
    """Read and write the results of one audit in ``folder``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    @property
    def database(self) -> Path:
        return self.folder / DATABASE

    def write_tables(self, tables: Mapping[str, pd.DataFrame]) -> None:
        """Replace the named tables in ``audit.duckdb`` in one atomic step."""
        with _atomic_path(self.database) as temporary:
            if self.database.exists():
                temporary.write_bytes(self.database.read_bytes())
            with duckdb.connect(str(temporary)) as connection:
                for name, frame in tables.items():
                    _check_name(name)
                    connection.register("incoming", _plain(frame))
                    connection.execute(f'CREATE OR REPLACE TABLE "{name}" AS '
                                       "SELECT * FROM incoming")
                    connection.unregister("incoming")

    def read_table(self, name: str) -> pd.DataFrame:
        _check_name(name)
        with duckdb.connect(str(self.database), read_only=True) as connection:
            return connection.execute(f'SELECT * FROM "{name}"').df()

    def tables(self) -> list[str]:
        if not self.database.exists():
            return []
        with duckdb.connect(str(self.database), read_only=True) as connection:
            return sorted(r[0] for r in connection.execute("SHOW TABLES").fetchall())

    def write_metadata(self, metadata: Mapping[str, object]) -> None:
        """Key → JSON value pairs (config, versions, data hash) in table ``metadata``."""
        self.write_tables({"metadata": metadata_frame(metadata)})

    def read_metadata(self) -> dict[str, object]:
        frame = self.read_table("metadata")
        return {k: json.loads(v) for k, v in zip(frame["key"], frame["value"], strict=True)}

    def write_array(self, name: str, member_ids: list[str], values: np.ndarray) -> Path:
        """Store a (B, n[, h]) array, one row per member and row, as Parquet."""
        _check_name(name)
        values = np.asarray(values)
        B, n = values.shape[:2]
        flat = values.reshape(B * n, -1)
        columns = {
            "member_id": pa.array(np.repeat(member_ids, n)),
            "row": pa.array(np.tile(np.arange(n, dtype=np.int64), B)),
        }
        names = ["value"] if values.ndim == 2 else [f"axis_{j}" for j in range(flat.shape[1])]
        for j, column in enumerate(names):
            columns[column] = pa.array(flat[:, j])
        path = self.folder / f"{name}.parquet"
        with _atomic_path(path) as temporary:
            pq.write_table(pa.table(columns), temporary)
        return path

    def read_array(self, name: str) -> tuple[list[str], np.ndarray]:
        """Inverse of :meth:`write_array`: member ids and the (B, n[, h]) array."""
        table = pq.read_table(self.folder / f"{name}.parquet").to_pandas()
        member_ids = list(dict.fromkeys(table["member_id"]))
        n = int(table["row"].max()) + 1
        values = table.drop(columns=["member_id", "row"]).to_numpy()
        shape = (len(member_ids), n) if values.shape[1] == 1 and "value" in table else (
            len(member_ids), n, values.shape[1])
        return member_ids, values.reshape(shape)


def metadata_frame(metadata: Mapping[str, object]) -> pd.DataFrame:
    """The ``metadata`` table: one row per key, its value as JSON."""
    return pd.DataFrame({
        "key": list(metadata),
        "value": [json.dumps(v, sort_keys=True, default=str) for v in metadata.values()],
    })


def _check_name(name: str) -> None:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"store name {name!r} must be letters, digits and underscores")


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable pandas dtypes DuckDB reads as plain columns."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.StringDtype) or out[column].dtype == object:
            out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out


@contextmanager
def _atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path next to ``target`` that replaces it when the block succeeds."""
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    temporary.unlink()
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()
