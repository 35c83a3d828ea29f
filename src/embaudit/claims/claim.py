"""A claim: an attribute, the direction of its association with lifespan, maybe an axis."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from embaudit.data.table import Table
from embaudit.errors import ConfigError, DataError

_CLAIM = re.compile(r"^(?P<attribute>.+?):(?P<sign>[+-])(?:@(?P<axis>\d+))?$")


@dataclass(frozen=True)
class Claim:
    """An attribute, the direction of its association with lifespan, optionally the axis
    of a model that carries it. Text form: ``size:+``, ``colour=red:-``, ``size:+@3``."""

    attribute: str
    direction: int
    axis: int | None = None

    @classmethod
    def parse(cls, text: str) -> Claim:
        match = _CLAIM.match(text.strip())
        if match is None:
            raise ConfigError(f"Claim {text!r} is not of the form ATTRIBUTE:+ or ATTRIBUTE:- "
                              "(optionally @AXIS, e.g. size:+@3).")
        axis = match["axis"]
        return cls(match["attribute"], 1 if match["sign"] == "+" else -1,
                   None if axis is None else int(axis))

    def __str__(self) -> str:
        axis = "" if self.axis is None else f"@{self.axis}"
        return f"{self.attribute}:{'+' if self.direction > 0 else '-'}{axis}"


def claimed_columns(claims: Sequence[Claim], columns: Any,
                    missing: str = "which is not in the data; check the spelling or the file"
                    ) -> list[str]:
    """The table columns the claims name (``colour=red`` names column ``colour``);
    ``missing`` ends the error naming a column that is not among ``columns``."""
    names: list[str] = []
    for claim in claims:
        name = claim.attribute
        if name not in columns and "=" in name and name.split("=", 1)[0] in columns:
            name = name.split("=", 1)[0]
        if name not in columns:
            raise DataError(f"Claim {claim} names column {claim.attribute!r}, {missing}.")
        if name not in names:
            names.append(name)
    return names


def parse_direction(direction: str | int) -> int:
    if direction in ("+", 1, "1", "+1"):
        return 1
    if direction in ("-", -1, "-1"):
        return -1
    raise ConfigError(f"direction={direction!r}: use '+' or '-' (or +1 / -1).")


def attribute_column(table: Table, name: str) -> int:
    """Index of the claim's attribute among the table's encoded attribute columns."""
    columns = table.attribute_columns
    exact = [i for i, c in enumerate(columns) if c.name == name]
    source = [i for i, c in enumerate(columns) if c.attribute == name]
    if exact:
        return exact[0]
    if len(source) == 1:
        return source[0]
    if source:
        levels = ", ".join(columns[i].name for i in source)
        raise ConfigError(f"Claim attribute {name!r} is categorical with several levels; "
                          f"name one level: {levels}.")
    known = ", ".join(c.name for c in columns)
    raise ConfigError(f"Claim attribute {name!r} is not an attribute of the table (known: "
                      f"{known}); name it with --attributes or fix the claim.")
