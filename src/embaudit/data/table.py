"""The audited table: column roles, validation with actionable errors, encoded views.

A :class:`Table` is immutable. It keeps the validated columns of one data set and the
role of each (id, features, target, attributes, covariates, group); the numeric views
the rest of embaudit uses (``X``, ``y``, encoded attributes) are derived from it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from embaudit.core.summary import Block, Summary, short_repr
from embaudit.data.checks import (
    check_attribute,
    check_complete,
    check_event,
    check_features,
    check_lifespan,
    check_roles,
    check_unique_ids,
    event_indicator,
    require_column,
)
from embaudit.data.features import FeatureChoice, choose_features
from embaudit.data.reading import read_frame
from embaudit.data.target import TargetTransform, apply_transform, resolve_transform
from embaudit.errors import DataError

#: Fewest rows an audit accepts: the holdout must still hold enough rows to test on.
MIN_ROWS = 50

AttributeKind = Literal["numeric", "binary", "categorical"]


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
    #: the event column (1: failed at the lifespan, 0: still in service then); None:
    #: every lifespan is a failure time
    event: str | None = None
    #: a picture of each object (a local path or URL; shown by the axis explorer only)
    images: str | None = None
    #: how the features were chosen and what was left out (None: not recorded, e.g. a
    #: table read back from a store)
    feature_choice: FeatureChoice | None = field(default=None, repr=False, compare=False)

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(self.frame)

    def __repr__(self) -> str:
        return short_repr("Table", rows=self.n_rows, target=self.target,
                          features=len(self.features), attributes=len(self.attributes),
                          covariates=len(self.covariates) or None, id=self.id,
                          group=self.group, event=self.event)

    def _repr_html_(self) -> str:
        roles = {"rows": str(self.n_rows), "target (lifespan)": self.target,
                 "event": self.event, "id": self.id, "group": self.group,
                 "attributes": ", ".join(self.attributes),
                 "covariates": ", ".join(self.covariates) or None}
        lines = self.feature_choice.lines() if self.feature_choice is not None else \
            [f"Features: {len(self.features)} columns."]
        frame = pd.DataFrame({"role": list(roles), "columns": list(roles.values())})
        return Summary((Block(tuple(lines)), Block(frame=frame.dropna())),
                       "embaudit table").as_html()

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
        """Each row's id (the id column, or the row's position without one)."""
        if self.id is None:
            return np.arange(self.n_rows)
        return self.frame[self.id].to_numpy()

    @cached_property
    def events(self) -> np.ndarray | None:
        """1.0 where the lifespan ends in a failure, 0.0 where it is censored (None
        without an event column)."""
        return None if self.event is None else event_indicator(self.frame[self.event])

    @cached_property
    def groups(self) -> np.ndarray | None:
        """Each row's group (None without a group column)."""
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
        roles = {k: v for k, v in self.roles().items() if k != "images"}  # no result reads it
        digest.update(repr(roles).encode())
        columns = [self.target, *self.features, *self.attributes, *self.covariates]
        columns += [c for c in (self.id, self.group, self.event) if c is not None]
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
            "event": self.event,
            "target_transform": self.target_transform,
            "images": self.images,
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
    event: str | None = None,
    target_transform: TargetTransform = "auto",
    images: str | None = None,
) -> Table:
    """Read a CSV or Parquet file (or take a DataFrame) and validate its column roles.

    ``features`` takes names or shell-style patterns (``"f*"``); by default every
    numeric column without another role is a feature. An attribute may also be named
    as a feature. ``event`` names the column saying whether each lifespan ended in a
    failure (1, true, yes) or is censored (0, false, no: still in service then).
    ``images`` names a column with a picture of each object (a path or URL), which only
    the axis explorer shows.
    Raises :class:`~embaudit.errors.DataError` naming the column or row at fault and
    the fix.
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
        ("event", [event] if event else []),
        ("images", [images] if images else []),
    ):
        for name in names:
            require_column(frame, name, role)
    check_roles(target, attributes, covariates, event)
    forbidden = {name: role for role, name in (("group", group), ("id", id),
                                               ("event", event), ("target", target),
                                               ("images", images))
                 if name is not None}
    choice = choose_features(frame, features, [*attributes, *covariates], forbidden)
    feature_names = list(choice.features)
    frame = frame.reset_index(drop=True)
    ids = frame[id] if id else None
    if len(frame) < MIN_ROWS:
        only = " (only a header)" if len(frame) == 0 else ""
        raise DataError(
            f"The table has {len(frame)} rows{only}; an audit needs at least {MIN_ROWS} so "
            "that the holdout keeps enough rows to test on. Add rows before auditing."
        )
    if id:
        check_unique_ids(frame[id])
    check_lifespan(frame[target], ids)
    check_features(frame, feature_names, ids)
    for name in attributes:
        check_attribute(frame[name], ids)
    for name in covariates:
        check_complete(frame[name], "covariate", ids)
    if group:
        check_complete(frame[group], "group", ids)
    if event:
        check_event(frame[event], ids)
    resolved = resolve_transform(frame[target].to_numpy(dtype=float), target_transform, target)
    return Table(
        frame=frame,
        target=target,
        features=tuple(feature_names),
        attributes=tuple(attributes),
        covariates=tuple(covariates),
        id=id,
        group=group,
        event=event,
        target_transform=resolved,
        images=images,
        feature_choice=choice,
    )


def covariate_matrix(frame: pd.DataFrame, names: Sequence[str],
                     ids: pd.Series | None = None) -> np.ndarray | None:
    """Columns ``names`` of ``frame`` as covariates: checked (present, complete, finite)
    and as numbers, categorical ones as drop-first dummies; None without names."""
    if not names:
        return None
    for name in names:
        require_column(frame, name, "covariate")
        check_complete(frame[name], "covariate", ids)
    return pd.get_dummies(frame[list(names)], drop_first=True, dtype=float).to_numpy(float)


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
