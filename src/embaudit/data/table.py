"""The audited table: column roles, validation with actionable errors, encoded views.

A :class:`Table` is immutable. It keeps the validated columns of one data set and the
role of each (id, features, target, attributes, covariates, group); the numeric views
the rest of embaudit uses (``X``, ``y``, encoded attributes) are derived from it.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from embaudit.data.target import TargetTransform, apply_transform, resolve_transform
from embaudit.errors import DataError

#: Fewest rows an audit accepts: the holdout must still hold enough rows to test on.
MIN_ROWS = 50

AttributeKind = Literal["numeric", "binary", "categorical"]
_NON_NUMERIC_FIX = {
    "feature": "or give it another role (e.g. attribute) and leave it out of the features"
}


@dataclass(frozen=True)
class AttributeColumn:
    """One testable attribute column; categorical attributes give one per level."""

    name: str
    attribute: str
    kind: AttributeKind
    values: np.ndarray = field(repr=False)
    level: str | None = None


@dataclass(frozen=True, eq=False)
class Table:
    """Validated data set with named column roles. Build it with :func:`load_table`."""

    frame: pd.DataFrame = field(repr=False)
    target: str
    features: tuple[str, ...]
    attributes: tuple[str, ...]
    covariates: tuple[str, ...] = ()
    id: str | None = None
    group: str | None = None
    target_transform: str = "none"

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    @cached_property
    def X(self) -> np.ndarray:  # noqa: N802 - the maths' notation
        """Raw (unstandardized) feature matrix, float32, n x p."""
        return self.frame[list(self.features)].to_numpy(dtype=np.float32)

    @cached_property
    def lifespan(self) -> np.ndarray:
        """Target on its original scale."""
        return self.frame[self.target].to_numpy(dtype=float)

    @cached_property
    def y(self) -> np.ndarray:
        """Target after the resolved transform (what the networks regress on)."""
        return apply_transform(self.lifespan, self.target_transform)

    @cached_property
    def row_ids(self) -> np.ndarray:
        if self.id is None:
            return np.arange(self.n_rows)
        return self.frame[self.id].to_numpy()

    @cached_property
    def groups(self) -> np.ndarray | None:
        return None if self.group is None else self.frame[self.group].to_numpy()

    @cached_property
    def attribute_columns(self) -> tuple[AttributeColumn, ...]:
        """Attributes encoded for testing (categorical ones one-vs-rest)."""
        return tuple(c for name in self.attributes for c in _encode_attribute(self.frame[name]))

    @cached_property
    def attribute_matrix(self) -> np.ndarray:
        """Encoded attributes as an n x q' float matrix, columns as ``attribute_columns``."""
        return np.column_stack([c.values for c in self.attribute_columns])

    @cached_property
    def covariate_matrix(self) -> np.ndarray | None:
        """Covariates as numbers (categorical ones as drop-first dummies), or None."""
        return covariate_matrix(self.frame, self.covariates,
                                None if self.id is None else self.frame[self.id])

    def fingerprint(self) -> str:
        """SHA-256 of every column the audit uses, in role order."""
        digest = hashlib.sha256()
        digest.update(repr(self.roles()).encode())
        columns = [self.target, *self.features, *self.attributes, *self.covariates]
        columns += [c for c in (self.id, self.group) if c is not None]
        for name in dict.fromkeys(columns):
            hashed = pd.util.hash_pandas_object(self.frame[name], index=False)
            digest.update(hashed.to_numpy().tobytes())
        return digest.hexdigest()

    def roles(self) -> dict[str, object]:
        """Column roles as plain data (for configs, stores and reports)."""
        return {
            "target": self.target,
            "features": list(self.features),
            "attributes": list(self.attributes),
            "covariates": list(self.covariates),
            "id": self.id,
            "group": self.group,
            "target_transform": self.target_transform,
        }


def load_table(
    source: str | Path | pd.DataFrame,
    *,
    target: str,
    attributes: Sequence[str],
    features: Sequence[str] | str | None = None,
    covariates: Sequence[str] | None = None,
    id: str | None = None,
    group: str | None = None,
    target_transform: TargetTransform = "auto",
) -> Table:
    """Read a CSV or Parquet file (or take a DataFrame) and validate its column roles.

    ``features`` takes names or shell-style patterns (``"f*"``); by default every
    numeric column without another role is a feature. An attribute may also be named
    as a feature. Raises :class:`~embaudit.errors.DataError` naming the column or row
    at fault and the fix.
    """
    frame = read_frame(source)
    if isinstance(features, str):
        features = [features]
    attributes = list(attributes)
    covariates = list(covariates or [])
    if not attributes:
        raise DataError("No attributes given: name at least one attribute column to audit.")
    for role, names in (
        ("target", [target]),
        ("attribute", attributes),
        ("covariate", covariates),
        ("id", [id] if id else []),
        ("group", [group] if group else []),
    ):
        for name in names:
            _require_column(frame, name, role)
    _check_roles(target, attributes, covariates)
    feature_names = _select_features(frame, features, target, attributes, covariates, id, group)
    frame = frame.reset_index(drop=True)
    ids = frame[id] if id else None
    if len(frame) < MIN_ROWS:
        raise DataError(
            f"The table has {len(frame)} rows; an audit needs at least {MIN_ROWS} so that "
            "the holdout keeps enough rows to test on. Add rows before auditing."
        )
    if id:
        _check_unique_ids(frame[id])
    _check_numeric_finite(frame, [target], "target", ids)
    _check_numeric_finite(frame, feature_names, "feature", ids)
    for name in attributes:
        _check_attribute(frame[name], ids)
    for name in covariates:
        _check_complete(frame[name], "covariate", ids)
    if group:
        _check_complete(frame[group], "group", ids)
    resolved = resolve_transform(frame[target].to_numpy(dtype=float), target_transform, target)
    return Table(
        frame=frame,
        target=target,
        features=tuple(feature_names),
        attributes=tuple(attributes),
        covariates=tuple(covariates),
        id=id,
        group=group,
        target_transform=resolved,
    )


def covariate_matrix(frame: pd.DataFrame, names: Sequence[str],
                     ids: pd.Series | None = None) -> np.ndarray | None:
    """Columns ``names`` of ``frame`` as covariates: checked (present, complete, finite)
    and as numbers, categorical ones as drop-first dummies; None without names."""
    if not names:
        return None
    for name in names:
        _require_column(frame, name, "covariate")
        _check_complete(frame[name], "covariate", ids)
    return pd.get_dummies(frame[list(names)], drop_first=True, dtype=float).to_numpy(float)


def read_frame(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """The CSV / Parquet file (or a copy of the DataFrame) with unique string column names."""
    frame = source.copy() if isinstance(source, pd.DataFrame) else _read_file(Path(source))
    frame.columns = [str(c) for c in frame.columns]
    duplicated = frame.columns[frame.columns.duplicated()]
    if len(duplicated):
        raise DataError(
            f"Column name {duplicated[0]!r} occurs more than once in the table; rename the "
            "columns so that every name is unique."
        )
    return frame


def _read_file(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"Data file {str(path)!r} does not exist; check the path.")
    suffix = path.suffix.lower()
    readers = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}
    if suffix not in readers:
        raise DataError(
            f"Data file {str(path)!r} has suffix {suffix!r}; embaudit reads .csv and .parquet "
            "files. Convert the file or rename it with the right suffix."
        )
    try:
        return readers[suffix](path)
    except Exception as error:  # parser errors differ by reader and version
        raise DataError(
            f"Could not read data file {str(path)!r} as {suffix[1:]}: {error}. Check that the "
            "file is complete and in that format."
        ) from error


def _require_column(frame: pd.DataFrame, name: str, role: str) -> None:
    if name not in frame.columns:
        available = ", ".join(map(str, list(frame.columns)[:12]))
        more = " …" if frame.shape[1] > 12 else ""
        raise DataError(
            f"Column {name!r} (given as {role}) is not in the table. Available columns: "
            f"{available}{more}. Check the spelling or the file."
        )


def _check_roles(target: str, attributes: list[str], covariates: list[str]) -> None:
    """Each name once per list; target, attributes and covariates disjoint."""
    for role, names in (("attribute", attributes), ("covariate", covariates)):
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise DataError(f"{role.capitalize()} {twice[0]!r} is listed twice; list it once.")
        if target in names:
            raise DataError(
                f"Column {target!r} is the target and cannot also be listed as {role}; remove it "
                f"from the {role}s."
            )
    both = [name for name in attributes if name in covariates]
    if both:
        raise DataError(
            f"Column {both[0]!r} is both an attribute and a covariate; an attribute cannot be "
            "adjusted for itself. Remove it from one of the two lists."
        )


def _select_features(
    frame: pd.DataFrame,
    features: Sequence[str] | None,
    target: str,
    attributes: Sequence[str],
    covariates: Sequence[str],
    id: str | None,
    group: str | None,
) -> list[str]:
    forbidden = {target, id, group} - {None}
    columns = list(frame.columns)
    if features is None:
        taken = forbidden | set(attributes) | set(covariates)
        chosen = [c for c in columns if c not in taken and is_numeric_dtype(frame[c])]
        if not chosen:
            raise DataError(
                "No feature columns: every numeric column already has another role. "
                "Name the features explicitly (e.g. features=['f*'])."
            )
        return chosen
    chosen = []
    for pattern in features:
        matched = [c for c in columns if fnmatch.fnmatchcase(c, pattern)]
        if not matched:
            raise DataError(
                f"Feature pattern {pattern!r} matches no column. Check the name or pattern "
                "(shell-style, e.g. 'f*')."
            )
        chosen.extend(c for c in matched if c not in chosen)
    for name in chosen:
        if name in forbidden:
            role = "target" if name == target else "id" if name == id else "group"
            raise DataError(
                f"Column {name!r} is the {role} and cannot also be a feature; narrow the "
                "feature list or pattern."
            )
    return chosen


def _show(value: object) -> str:
    """repr of a cell for messages (numpy scalars as plain Python values)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _row_label(row: int, ids: pd.Series | None) -> str:
    return f"row {row}" if ids is None else f"row {row} (id {_show(ids.iloc[row])})"


def _check_unique_ids(ids: pd.Series) -> None:
    missing = np.flatnonzero(ids.isna().to_numpy())
    if len(missing):
        raise DataError(
            f"Id column {ids.name!r} has a missing value at row {int(missing[0])}; fill or drop it."
        )
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        rows = np.flatnonzero(duplicated.to_numpy())
        raise DataError(
            f"Id column {ids.name!r} has duplicate value {_show(ids.iloc[rows[0]])} "
            f"(rows {', '.join(map(str, rows[:5]))}). Ids must be unique: deduplicate the rows "
            "or choose another id column."
        )


def _check_numeric_finite(
    frame: pd.DataFrame, names: Sequence[str], role: str, ids: pd.Series | None
) -> None:
    for name in names:
        column = frame[name]
        boolean = is_bool_dtype(column)
        if not is_numeric_dtype(column) or (boolean and role != "feature"):
            values = pd.to_numeric(column, errors="coerce")
            bad = np.flatnonzero(values.isna().to_numpy() & column.notna().to_numpy())
            example = f" (dtype {column.dtype})"
            if len(bad):
                example = f": {_show(column.iloc[bad[0]])} at {_row_label(int(bad[0]), ids)}"
            raise DataError(
                f"The {role} column {name!r} is not numeric{example}. Convert it to numbers, "
                f"{_NON_NUMERIC_FIX.get(role, 'e.g. the lifespan in days')}."
            )
        _check_finite(column, role, ids,
                      "Impute or drop" if role == "feature" else "Drop or fix")


def _check_complete(column: pd.Series, role: str, ids: pd.Series | None) -> None:
    missing = np.flatnonzero(column.isna().to_numpy())
    if len(missing):
        raise DataError(
            f"The {role} column {column.name!r} has a missing value at "
            f"{_row_label(int(missing[0]), ids)}"
            f"{f' and {len(missing) - 1} more rows' if len(missing) > 1 else ''}. "
            "Fill or drop those rows before auditing."
        )
    if is_numeric_dtype(column) and not is_bool_dtype(column):
        _check_finite(column, role, ids, "Fix or drop")


def _check_finite(column: pd.Series, role: str, ids: pd.Series | None, fix: str) -> None:
    """Raise naming the first row whose value is NaN or infinite, and how many more."""
    values = column.to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise DataError(
            f"The {role} column {column.name!r} has a non-finite value ({values[bad[0]]}) at "
            f"{_row_label(int(bad[0]), ids)}"
            f"{f' and {len(bad) - 1} more rows' if len(bad) > 1 else ''}. "
            f"{fix} those rows before auditing."
        )


def _check_attribute(column: pd.Series, ids: pd.Series | None) -> None:
    _check_complete(column, "attribute", ids)
    if column.nunique() < 2:
        raise DataError(
            f"Attribute {column.name!r} has a single level ({_show(column.iloc[0])}) in every row, "
            "so nothing can be associated with it. Drop it from the attributes."
        )


def _is_categorical(column: pd.Series) -> bool:
    return not is_numeric_dtype(column) or is_bool_dtype(column)


def _encode_attribute(column: pd.Series) -> list[AttributeColumn]:
    name = str(column.name)
    if not _is_categorical(column):
        values = column.to_numpy(dtype=float)
        kind: AttributeKind = "binary" if len(np.unique(values)) == 2 else "numeric"
        return [AttributeColumn(name=name, attribute=name, kind=kind, values=values)]
    labels = column.astype(str)
    levels = sorted(labels.unique())
    kind = "binary" if len(levels) == 2 else "categorical"
    if kind == "binary":  # one indicator: the second level against the first
        levels = levels[1:]
    return [
        AttributeColumn(
            name=f"{name}={level}",
            attribute=name,
            kind=kind,
            values=(labels == level).to_numpy(dtype=float),
            level=level,
        )
        for level in levels
    ]
