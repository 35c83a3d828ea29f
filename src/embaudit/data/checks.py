"""Validation of a table's column roles: each check names the column, the row and the fix.

Errors (:class:`~embaudit.errors.DataError`) for what cannot be audited; warnings
(:class:`~embaudit.errors.EmbauditWarning`) for what can, but carries nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

from embaudit.errors import DataError, EmbauditWarning

#: most levels a categorical attribute may have: each level is tested one-vs-rest, and a
#: column with more (names, dates, free text) is not an attribute
MAX_LEVELS = 50
#: largest magnitude a feature may have: features train as float32
FLOAT32_MAX = float(np.finfo(np.float32).max)
_NON_NUMERIC_FIX = {
    "feature": "or give it another role (e.g. attribute) and leave it out of the features"
}


def require_column(frame: pd.DataFrame, name: str, role: str) -> None:
    if name not in frame.columns:
        available = ", ".join(map(repr, list(frame.columns)[:12]))
        more = " …" if frame.shape[1] > 12 else ""
        raise DataError(
            f"Column {name!r} (given as {role}) is not in the table. Available columns: "
            f"{available}{more}. Check the spelling or the file."
        )


def check_roles(target: str, attributes: list[str], covariates: list[str],
                event: str | None = None) -> None:
    """Each name once per list; target, event, attributes and covariates disjoint."""
    if event is not None and event == target:
        raise DataError(f"Column {event!r} is both the target and the event column; the "
                        "event column says whether each lifespan ended in a failure.")
    for role, names in (("attribute", attributes), ("covariate", covariates)):
        if event is not None and event in names:
            raise DataError(f"Column {event!r} is the event column and cannot also be "
                            f"listed as {role}; remove it from the {role}s.")
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


def show(value: object) -> str:
    """repr of a cell for messages (numpy scalars as plain Python values)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def row_label(row: int, ids: pd.Series | None) -> str:
    return f"row {row}" if ids is None else f"row {row} (id {show(ids.iloc[row])})"


def check_scalar(column: pd.Series, role: str) -> None:
    """Refuse nested values (lists, dicts, arrays: Parquet list or struct columns)."""
    if column.dtype != object:
        return
    nested = column.map(lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray)))
    if nested.any():
        row = int(np.flatnonzero(nested.to_numpy())[0])
        kind = type(column.iloc[row]).__name__
        raise DataError(
            f"The {role} column {column.name!r} holds nested values ({kind} at row "
            f"{row}), e.g. a Parquet list or struct column. Flatten it into one column per "
            "value before auditing."
        )


def check_unique_ids(ids: pd.Series) -> None:
    check_scalar(ids, "id")
    missing = np.flatnonzero(ids.isna().to_numpy())
    if len(missing):
        raise DataError(
            f"Id column {ids.name!r} has a missing value at row {int(missing[0])}; fill or drop it."
        )
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        rows = np.flatnonzero(duplicated.to_numpy())
        raise DataError(
            f"Id column {ids.name!r} has duplicate value {show(ids.iloc[rows[0]])} "
            f"(rows {', '.join(map(str, rows[:5]))}). Ids must be unique: deduplicate the rows "
            "or choose another id column."
        )


def check_numeric_finite(
    frame: pd.DataFrame, names: Sequence[str], role: str, ids: pd.Series | None
) -> None:
    for name in names:
        column = frame[name]
        _check_not_empty(column, role)
        boolean = is_bool_dtype(column)
        if not is_numeric_dtype(column) or (boolean and role != "feature"):
            check_scalar(column, role)
            values = pd.to_numeric(column, errors="coerce")
            bad = np.flatnonzero(values.isna().to_numpy() & column.notna().to_numpy())
            example = f" (dtype {column.dtype})"
            if len(bad):
                example = f": {show(column.iloc[bad[0]])} at {row_label(int(bad[0]), ids)}"
            raise DataError(
                f"The {role} column {name!r} is not numeric{example}. Convert it to numbers, "
                f"{_NON_NUMERIC_FIX.get(role, 'e.g. the lifespan in days')}."
            )
        check_finite(column, role, ids, "Impute or drop" if role == "feature" else "Drop or fix")


def check_features(frame: pd.DataFrame, names: Sequence[str], ids: pd.Series | None) -> None:
    """Numeric, finite, within float32 (what the networks compute in); constant features
    are kept (they carry nothing, and standardize to zero) with a warning naming them."""
    check_numeric_finite(frame, names, "feature", ids)
    values = frame[list(names)].to_numpy(dtype=np.float64)
    rows, columns = np.nonzero(np.abs(values) > FLOAT32_MAX)
    if len(rows):
        raise DataError(
            f"The feature column {names[columns[0]]!r} has value "
            f"{float(values[rows[0], columns[0]])!r} at {row_label(int(rows[0]), ids)}, "
            f"beyond float32 (±{FLOAT32_MAX:.3g}), which the networks compute in. Rescale "
            "the column (e.g. take its log) before auditing."
        )
    constant = [name for name, spread in zip(names, np.ptp(values, axis=0), strict=True)
                if spread == 0]
    if constant:
        shown = ", ".join(map(repr, constant[:5])) + (" …" if len(constant) > 5 else "")
        warnings.warn(
            f"{len(constant)} feature column(s) have the same value in every row ({shown}); "
            "they carry no information and are kept with zero weight. Leave them out of the "
            "features to silence this.", EmbauditWarning, stacklevel=3)


def check_lifespan(column: pd.Series, ids: pd.Series | None) -> None:
    """Lifespans are durations: numeric, finite, positive whatever the transform, and
    not all equal."""
    check_numeric_finite(column.to_frame(), [str(column.name)], "target", ids)
    values = column.to_numpy(dtype=float)
    bad = np.flatnonzero(values <= 0)
    if len(bad):
        raise DataError(
            f"The target column {column.name!r} has a non-positive lifespan "
            f"({float(values[bad[0]])!r}) at {row_label(int(bad[0]), ids)}"
            f"{f' and {len(bad) - 1} more rows' if len(bad) > 1 else ''}. Lifespans must be "
            "> 0 whatever the transform: fix or drop those rows (a product that failed on "
            "day 0 lasted less than a day; record it as such)."
        )
    if np.ptp(values) == 0:
        raise DataError(
            f"The target column {column.name!r} has the same value ({float(values[0])!r}) in "
            "every row: there is no lifespan variation to relate attributes to. Check the column."
        )


def check_complete(column: pd.Series, role: str, ids: pd.Series | None) -> None:
    check_scalar(column, role)
    _check_not_empty(column, role)
    missing = np.flatnonzero(column.isna().to_numpy())
    if len(missing):
        raise DataError(
            f"The {role} column {column.name!r} has a missing value at "
            f"{row_label(int(missing[0]), ids)}"
            f"{f' and {len(missing) - 1} more rows' if len(missing) > 1 else ''}. "
            "Fill or drop those rows before auditing."
        )
    if is_numeric_dtype(column) and not is_bool_dtype(column):
        check_finite(column, role, ids, "Fix or drop")


def check_finite(column: pd.Series, role: str, ids: pd.Series | None, fix: str) -> None:
    """Raise naming the first row whose value is NaN or infinite, and how many more."""
    values = column.to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise DataError(
            f"The {role} column {column.name!r} has a non-finite value ({values[bad[0]]}) at "
            f"{row_label(int(bad[0]), ids)}"
            f"{f' and {len(bad) - 1} more rows' if len(bad) > 1 else ''}. "
            f"{fix} those rows before auditing."
        )


def check_attribute(column: pd.Series, ids: pd.Series | None) -> None:
    check_complete(column, "attribute", ids)
    if is_datetime64_any_dtype(column):
        raise DataError(
            f"Attribute {column.name!r} holds dates; convert it to a number (e.g. days since "
            "the earliest date, or the year) to test it as a numeric attribute."
        )
    levels = column.nunique()
    if levels < 2:
        raise DataError(
            f"Attribute {column.name!r} has a single level ({show(column.iloc[0])}) in every row, "
            "so nothing can be associated with it. Drop it from the attributes."
        )
    if not is_numeric_dtype(column) and levels > MAX_LEVELS:
        raise DataError(
            f"Attribute {column.name!r} is text with {levels} distinct values (at most "
            f"{MAX_LEVELS}, each tested one-vs-rest). If it holds numbers, convert it to "
            "numbers; if it is an identifier, give it as --id; otherwise group its levels."
        )


#: how an event column may spell a failure (1) and a censored lifespan (0)
EVENT_CODES = {"1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0, "true": 1.0, "false": 0.0,
               "yes": 1.0, "no": 0.0}


def event_indicator(column: pd.Series) -> np.ndarray:
    """The event column as 1.0 (failed) / 0.0 (censored); see :func:`check_event`."""
    return column.map(lambda v: EVENT_CODES.get(str(v).strip().lower())).to_numpy(float)


def check_event(column: pd.Series, ids: pd.Series | None) -> None:
    """0/1, booleans or yes/no, true/false (any case); complete; at least one failure."""
    check_complete(column, "event", ids)
    codes = event_indicator(column)
    bad = np.flatnonzero(np.isnan(codes))
    if len(bad):
        raise DataError(
            f"The event column {column.name!r} has value {show(column.iloc[bad[0]])} at "
            f"{row_label(int(bad[0]), ids)}; an event is 1 (failed at that lifespan) or 0 "
            "(still in service then, censored), also as true/false or yes/no. Recode it."
        )
    if not codes.any():
        raise DataError(
            f"The event column {column.name!r} has no failure: every lifespan is censored, "
            "so nothing can be learned about how long products last. Check the coding "
            "(1 = failed)."
        )


def _check_not_empty(column: pd.Series, role: str) -> None:
    if len(column) and column.isna().all():
        raise DataError(
            f"The {role} column {column.name!r} is empty: every one of its {len(column)} "
            "values is missing. Drop it from the table or fill it."
        )
