"""Which columns are the network's features, by which rule, and what was left out.

A default that silently picks the wrong columns ruins an audit (an integer patient id as
the only feature trains a network on noise and still gives a verdict), so the default
rule leaves out columns that look like ids, and the choice is reported in words before
anything trains.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api.types import is_integer_dtype, is_numeric_dtype, is_string_dtype

from embaudit.errors import DataError

#: fewest features the default rule may choose: fewer usually means the table's features
#: are text, or other columns took their place, and the user should name them
MIN_DEFAULT_FEATURES = 5
#: columns a sentence names before "and N more"
_SHOWN = 8


@dataclass(frozen=True)
class FeatureChoice:
    """The feature columns and how they were chosen: ``rule`` is ``"named"`` (the user's
    names or patterns) or ``"default"``; ``left_out`` maps each column without another
    role that is not a feature to why."""

    features: tuple[str, ...]
    rule: str
    patterns: tuple[str, ...] = ()
    left_out: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """What an audit says first: how many features, by which rule, what was left out."""
        if self.rule == "named":
            how = "the columns named by " + ", ".join(map(repr, self.patterns))
        else:
            how = ("every numeric column without another role, ids left out (the default; "
                   "name them with --features or data.features)")
        lines = [f"Features: {len(self.features)} columns, {how}."]
        if self.left_out and self.rule == "named":
            lines.append(f"Left out (not named): {_listed(self.left_out)}.")
        elif self.left_out:
            lines.append("Left out: " + _listed(f"{name} ({why})"
                                                for name, why in self.left_out.items()) + ".")
        return lines


def choose_features(frame: pd.DataFrame, features: Sequence[str] | None,
                    taken: Sequence[str], forbidden: dict[str, str]) -> FeatureChoice:
    """The feature columns: ``features`` as names or shell-style patterns (a column
    whose name is given exactly is taken as named, brackets and all), or by default
    every numeric column not ``taken`` by another role that does not look like an id.
    ``forbidden`` maps column → role (target, id, group, event, images)."""
    free = [c for c in frame.columns if c not in taken and c not in forbidden]
    if features is None:
        left_out = {c: why for c in free if (why := _not_a_default_feature(frame[c]))}
        choice = FeatureChoice(tuple(c for c in free if c not in left_out), "default",
                               left_out=left_out)
        if len(choice.features) < MIN_DEFAULT_FEATURES:
            raise DataError(_too_few(choice))
        return choice
    chosen: list[str] = []
    for pattern in features:
        matched = [pattern] if pattern in frame.columns else \
            [c for c in frame.columns if fnmatch.fnmatchcase(c, pattern)]
        if not matched:
            raise DataError(f"Feature pattern {pattern!r} matches no column. Check the name "
                            "or pattern (shell-style, e.g. 'f*').")
        chosen.extend(c for c in matched if c not in chosen)
    for name in chosen:
        if name in forbidden:
            raise DataError(f"Column {name!r} is the {forbidden[name]} and cannot also be a "
                            "feature; narrow the feature list or pattern.")
    return FeatureChoice(tuple(chosen), "named", tuple(features),
                         {c: "not named as a feature" for c in free if c not in chosen})


def _not_a_default_feature(column: pd.Series) -> str | None:
    """Why the default rule leaves ``column`` out, or None when it is a feature."""
    values = column.dropna()
    unique_per_row = len(values) == len(column) > 1 and values.is_unique
    if not is_numeric_dtype(column):
        kind = "text" if is_string_dtype(column) else str(column.dtype)
        return f"{kind}, unique per row: looks like an id" if unique_per_row else \
            f"{kind}, not a number"
    if unique_per_row and _whole_numbers(column):
        return "a different whole number on every row: looks like an id; name it with --id"
    return None


def _whole_numbers(column: pd.Series) -> bool:
    if is_integer_dtype(column):
        return True
    values = column.to_numpy(dtype=float, na_value=np.nan)
    return bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))


def _too_few(choice: FeatureChoice) -> str:
    found = _listed(choice.features) if choice.features else "none"
    left = "; left out: " + _listed(f"{name} ({why})" for name, why in
                                   choice.left_out.items()) if choice.left_out else ""
    return (f"Only {len(choice.features)} column(s) are features by the default rule "
            f"(every numeric column without another role, ids left out): {found}{left}. "
            f"An audit needs the network's input features; at least "
            f"{MIN_DEFAULT_FEATURES} are expected by default. Name them with --features "
            "(data.features in a config, or load_table(features=[...])), e.g. --features "
            "'f*', and give an id column its role with --id.")


def _listed(names: Iterable[str]) -> str:
    items = list(names)
    shown = ", ".join(items[:_SHOWN])
    return shown if len(items) <= _SHOWN else f"{shown} and {len(items) - _SHOWN} more"
