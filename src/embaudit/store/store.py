"""The results store: ``audit.duckdb`` plus Parquet and checkpoint files, one folder.

Tables live in DuckDB and change inside transactions, so a crash never leaves half a
write. Each trained chunk of members goes to ``members/<regime>/<chunk>.parquet``
(embeddings and predictions of every row) and ``.pt`` (network weights, loaded with
``weights_only=True``), each written to a temporary file and renamed; its rows in the
``members`` table are inserted last, in one transaction: a member is finished exactly
when its row exists. An interrupted audit therefore resumes from its finished members.
No pickles. The schema is documented in ``docs/store.md``.
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from embaudit.core.members import chunk_key
from embaudit.core.regimes import REGIMES
from embaudit.errors import ConfigError
from embaudit.store.checkpoints import load_weights, weights_bytes
from embaudit.store.ensemble import EnsembleFit
from embaudit.store.files import atomic_path, file_sha256, refuse_links
from embaudit.store.rows import plain_text, record_chunk_files, replace_rows, table_names

DATABASE = "audit.duckdb"
MEMBERS_FOLDER = "members"
#: files an audit writes into its folder (removed by ``overwrite``)
AUDIT_FILES = (f"{DATABASE}.wal", DATABASE, "report.html", "report.md", "report.json",
               "explorer.html", "explorer.csv", "explorer.parquet")
LOCK = ".embaudit.lock"
#: a store never installs or loads DuckDB extensions (no downloads, no foreign formats)
_DUCKDB_OPTIONS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
#: a chunk's name: 16 hex digits (``core.members.chunk_key``)
_CHUNK = re.compile(r"[0-9a-f]{16}")
AUDIT_FOLDERS = (MEMBERS_FOLDER, "training_logs", "report_files")


class AuditStore:
    """Read and write the results of one audit in ``folder``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ConfigError(f"Output folder {str(self.folder)!r} is a file, not a folder; "
                              "choose a folder (--out) that is new or already a folder.")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"Cannot create output folder {str(self.folder)!r}: "
                              f"{error.strerror}. Choose a folder you can write to "
                              "(--out).") from None

    @property
    def database(self) -> Path:
        return self.folder / DATABASE

    @contextmanager
    def _connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        try:
            connection = duckdb.connect(str(self.database), read_only=read_only,
                                        config=_DUCKDB_OPTIONS)
        except duckdb.Error as error:
            raise ConfigError(
                f"The store database {str(self.database)!r} cannot be opened "
                f"({str(error).splitlines()[0][:160]}); it is "
                "not an embaudit store, or it was damaged. Choose another --out, or pass "
                "--overwrite to replace it."
            ) from None
        try:
            yield connection
        finally:
            connection.close()

    # ----------------------------------------------------------------- tables
    def write_tables(self, tables: Mapping[str, pd.DataFrame],
                     views: Mapping[str, str] | None = None) -> None:
        """Replace the named tables (and views, name → SELECT), in one transaction."""
        for name in [*tables, *(views or {})]:
            _check_name(name)
        with self._connect() as connection:
            connection.begin()
            try:
                for name, frame in tables.items():
                    connection.register("incoming", plain_text(frame))
                    connection.execute(f'CREATE OR REPLACE TABLE "{name}" AS '
                                       "SELECT * FROM incoming")
                    connection.unregister("incoming")
                for name, select in (views or {}).items():
                    connection.execute(f'CREATE OR REPLACE VIEW "{name}" AS {select}')
                connection.commit()
            except BaseException:
                connection.rollback()
                raise

    def append_rows(self, name: str, frame: pd.DataFrame) -> None:
        """Append ``frame``'s rows to table ``name`` (created on first use), in one
        transaction: all of them or, if the process dies, none."""
        _check_name(name)
        with self._connect() as connection:
            connection.begin()
            try:
                connection.register("incoming", plain_text(frame))
                connection.execute(f'CREATE TABLE IF NOT EXISTS "{name}" AS '
                                   "SELECT * FROM incoming LIMIT 0")
                connection.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM incoming')
                connection.unregister("incoming")
                connection.commit()
            except BaseException:
                connection.rollback()
                raise

    def read_table(self, name: str) -> pd.DataFrame:
        _check_name(name)
        with self._connect(read_only=True) as connection:
            return connection.execute(f'SELECT * FROM "{name}"').df()

    def tables(self) -> list[str]:
        if not self.database.exists():
            return []
        with self._connect(read_only=True) as connection:
            return sorted(r[0] for r in connection.execute("SHOW TABLES").fetchall())

    def write_metadata(self, metadata: Mapping[str, object]) -> None:
        """Key → JSON value pairs (config, versions, data hash) in table ``metadata``."""
        self.write_tables({"metadata": metadata_frame(metadata)})

    def read_tables(self, names: Sequence[str]) -> dict[str, pd.DataFrame]:
        """The named tables that exist, read over one connection."""
        for name in names:
            _check_name(name)
        if not self.database.exists():
            return {}
        with self._connect(read_only=True) as connection:
            present = table_names(connection)
            return {name: connection.execute(f'SELECT * FROM "{name}"').df()
                    for name in names if name in present}

    def read_metadata(self) -> dict[str, Any]:
        frame = self.read_tables(["metadata"]).get("metadata")
        if frame is None:
            return {}
        return {k: json.loads(v) for k, v in zip(frame["key"], frame["value"], strict=True)}

    # ------------------------------------------------------------ audit identity
    def identity_differences(self, identity: Mapping[str, Any]) -> list[str] | None:
        """None for a folder without an audit; else what differs from ``identity``.

        A database without a recorded identity (another tool's, or an older
        embaudit's) differs from every audit: it is never resumed into.
        """
        if not self.tables():
            return None
        recorded = self.read_metadata().get("identity")
        if recorded is None:
            return ["identity: missing (written by an older embaudit or another tool)"]
        return _differences(recorded, json.loads(json.dumps(identity, default=str)))

    def clear(self) -> None:
        """Remove everything an audit wrote here (the folder's other files stay)."""
        for name in AUDIT_FILES:  # the write-ahead log before its database
            (self.folder / name).unlink(missing_ok=True)
        for name in AUDIT_FOLDERS:
            shutil.rmtree(self.folder / name, ignore_errors=True)

    def sweep(self) -> None:
        """Remove what an interrupted write left behind: temporary files, and chunk
        files no finished member refers to (a chunk that crashed before its commit)."""
        kept = set()
        if "members" in self.tables():
            with self._connect(read_only=True) as connection:
                kept = {r[0] for r in connection.execute(
                    "SELECT DISTINCT chunk FROM members").fetchall()}
        for path in self.folder.glob(".*.tmp"):
            path.unlink(missing_ok=True)
        for path in (self.folder / MEMBERS_FOLDER).glob("*/*"):
            if path.name.startswith(".") or path.stem not in kept:
                path.unlink(missing_ok=True)

    @contextmanager
    def locked(self) -> Iterator[AuditStore]:
        """Hold the folder for one audit: a second process on it is refused, as is a
        folder that cannot be written or whose store files are symbolic links."""
        refuse_links(self.folder, [LOCK, *AUDIT_FILES, *AUDIT_FOLDERS])
        try:
            handle = open(self.folder / LOCK, "w")  # noqa: SIM115 - held until the block ends
        except OSError as error:
            raise ConfigError(f"Cannot write to output folder {str(self.folder)!r}: "
                              f"{error.strerror}. Choose a folder you can write to "
                              "(--out).") from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigError(
                    f"Output folder {str(self.folder)!r} is in use by another embaudit "
                    "process; wait for it to finish or choose another --out."
                ) from None
            try:
                yield self
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # ---------------------------------------------------------------- members
    def finished_members(self, regime: str) -> set[str]:
        """Ids of the members of ``regime`` whose results are complete in the store."""
        if "members" not in self.tables():
            return set()
        with self._connect(read_only=True) as connection:
            rows = connection.execute("SELECT member_id, chunk FROM members WHERE regime = ?",
                                      [regime]).fetchall()
        folder = self.folder / MEMBERS_FOLDER / regime
        present = {chunk for _, chunk in rows if (folder / f"{chunk}.parquet").exists()}
        return {member for member, chunk in rows if chunk in present}

    def member_regime(self, member_id: str) -> str | None:
        """The regime of a stored member (None when the store holds no such member)."""
        if "members" not in self.tables():
            return None
        with self._connect(read_only=True) as connection:
            row = connection.execute("SELECT regime FROM members WHERE member_id = ?",
                                     [member_id]).fetchone()
        return None if row is None else str(row[0])

    def write_chunk(self, regime: str, fit: EnsembleFit) -> None:
        """Store one trained chunk of members (with how it was computed, ``fit.compute``);
        they count as finished once this returns."""
        member_ids, diagnostics, curves = fit.member_ids, fit.diagnostics, fit.curves
        chunk = chunk_key(member_ids)
        folder = self.folder / MEMBERS_FOLDER / regime
        folder.mkdir(parents=True, exist_ok=True)
        B, n, h = fit.embeddings.shape
        columns: dict[str, Any] = {
            "member_id": pa.array(np.repeat(list(member_ids), n)),
            "row": pa.array(np.tile(np.arange(n, dtype=np.int64), B)),
            "prediction": pa.array(fit.predictions.reshape(-1)),
        }
        flat = fit.embeddings.reshape(B * n, h)
        for axis in range(h):
            columns[f"axis_{axis}"] = pa.array(flat[:, axis])
        written = {}
        with atomic_path(folder / f"{chunk}.parquet") as temporary:
            pq.write_table(pa.table(columns), temporary)
            written["parquet"] = file_sha256(temporary)
        if fit.state:
            with atomic_path(folder / f"{chunk}.pt") as temporary:
                temporary.write_bytes(weights_bytes(fit.state))
                written["pt"] = file_sha256(temporary)
        rows = diagnostics.assign(chunk=chunk)
        files = pd.DataFrame({"regime": regime, "chunk": chunk, "suffix": list(written),
                              "sha256": list(written.values())})
        with self._connect() as connection:
            connection.begin()
            try:
                replace_rows(connection, "curves", curves, member_ids)
                replace_rows(connection, "members", rows, member_ids)
                record_chunk_files(connection, files)
                if not fit.compute.empty:
                    replace_rows(connection, "compute", fit.compute, [chunk], key="chunk")
                connection.commit()
            except BaseException:
                connection.rollback()
                raise

    def read_members(self, regime: str, member_ids: Sequence[str], *,
                     with_state: bool = True) -> EnsembleFit:
        """The stored members ``member_ids``, in that order; their network weights
        (``state``) only ``with_state``."""
        with self._connect(read_only=True) as connection:
            connection.register("wanted", pd.DataFrame({"member_id": list(member_ids)}))
            diagnostics = connection.execute(
                "SELECT m.* FROM members m JOIN wanted USING (member_id) WHERE m.regime = ?",
                [regime]).df()
            names = table_names(connection)
            curves = connection.execute(
                "SELECT c.* FROM curves c JOIN wanted USING (member_id)").df() \
                if "curves" in names else pd.DataFrame()
            checksums = {(chunk, suffix): sha for chunk, suffix, sha in connection.execute(
                "SELECT chunk, suffix, sha256 FROM chunk_files WHERE regime = ?",
                [regime]).fetchall()} if "chunk_files" in names else {}
            compute = connection.execute(
                "SELECT * FROM compute WHERE regime = ? AND chunk IN (SELECT DISTINCT chunk "
                "FROM members JOIN wanted USING (member_id) WHERE regime = ?)",
                [regime, regime]).df() if "compute" in names else pd.DataFrame()
        order = {m: i for i, m in enumerate(member_ids)}
        missing = set(member_ids) - set(diagnostics["member_id"])
        if missing:
            raise KeyError(f"the store holds no finished {regime} member "
                           f"{sorted(missing)[0]!r} ({len(missing)} missing)")
        diagnostics = diagnostics.sort_values("member_id", key=lambda s: s.map(order))
        found: dict[str, tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = {}
        folder = self.folder / MEMBERS_FOLDER / regime
        for chunk in diagnostics["chunk"].unique():
            table = pq.read_table(self._chunk_file(folder, chunk, "parquet", checksums))
            ids = table["member_id"].unique().to_pylist()  # in order of first appearance
            n = table.num_rows // len(ids)
            axes = np.column_stack([table[c].to_numpy() for c in table.column_names
                                    if c.startswith("axis_")]).reshape(len(ids), n, -1)
            values = table["prediction"].to_numpy().reshape(len(ids), n)
            tensors = load_weights(self._chunk_file(folder, chunk, "pt", checksums)) \
                if with_state and REGIMES[regime].trains_network else {}
            for index, member_id in enumerate(ids):
                found[member_id] = (axes[index], values[index],
                                    {k: t[index].numpy() for k, t in tensors.items()})
        picked = [found[m] for m in member_ids]
        embeddings = np.stack([p[0] for p in picked])
        predictions = np.stack([p[1] for p in picked])
        state = {name: np.stack([p[2][name] for p in picked]) for name in picked[0][2]}
        curves = curves.sort_values(["member_id", "epoch"], key=lambda s: s.map(order)
                                    if s.name == "member_id" else s, kind="stable")
        return EnsembleFit(list(member_ids), embeddings, predictions,
                           diagnostics.drop(columns=["chunk"]).reset_index(drop=True),
                           curves.reset_index(drop=True), state, compute)

    def _chunk_file(self, folder: Path, chunk: str, suffix: str,
                    checksums: Mapping[tuple[str, str], str]) -> Path:
        """A chunk's file, checked against the checksum recorded when it was written
        (``checksums``: (chunk, suffix) → SHA-256, from table ``chunk_files``)."""
        path = folder / f"{chunk}.{suffix}"
        fix = "Rerun with --overwrite (or a new --out) to start this audit again."
        if not _CHUNK.fullmatch(str(chunk)) or not path.exists():
            raise ConfigError(f"The store in {str(self.folder)!r} lists members of chunk "
                              f"{chunk!r}, but {path.name} is missing. {fix}")
        recorded = checksums.get((chunk, suffix))
        if recorded is None or recorded != file_sha256(path):
            state = "has no recorded checksum" if recorded is None else \
                "differs from the checksum recorded when it was written"
            raise ConfigError(f"Store file {str(path)!r} {state}: it was modified or "
                              f"replaced after the audit wrote it, and is not read. {fix}")
        return path


def metadata_frame(metadata: Mapping[str, object]) -> pd.DataFrame:
    """The ``metadata`` table: one row per key, its value as JSON."""
    return pd.DataFrame({
        "key": list(metadata),
        "value": [json.dumps(v, default=str) for v in metadata.values()],  # in order
    })


def _differences(recorded: Any, current: Any, path: str = "") -> list[str]:
    if isinstance(recorded, dict) and isinstance(current, dict):
        found = []
        for key in sorted(set(recorded) | set(current)):
            found += _differences(recorded.get(key), current.get(key),
                                  f"{path}.{key}" if path else key)
        return found
    return [] if recorded == current else [f"{path}: {recorded!r} → {current!r}"]


def _check_name(name: str) -> None:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"store name {name!r} must be letters, digits and underscores")
