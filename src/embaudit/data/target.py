"""Lifespan target transform: ``log``, ``none`` or ``auto``."""

from __future__ import annotations

from typing import Literal

import numpy as np

from embaudit.errors import DataError

TargetTransform = Literal["auto", "log", "none"]

#: ``auto`` takes the log when every value is positive and max/min exceeds this ratio.
AUTO_LOG_RATIO = 100.0


def resolve_transform(y: np.ndarray, transform: TargetTransform, column: str) -> str:
    """Return the concrete transform (``log`` or ``none``) for target values ``y``."""
    if transform not in ("auto", "log", "none"):
        raise DataError(
            f"target_transform={transform!r} is not known; use 'auto', 'log' or 'none'."
        )
    if transform == "none":
        return "none"
    positive = bool(np.all(y > 0))
    if transform == "auto":
        return "log" if positive and y.max() / y.min() > AUTO_LOG_RATIO else "none"
    if not positive:
        row = int(np.flatnonzero(y <= 0)[0])
        raise DataError(
            f"Target column {column!r} has a non-positive value ({float(y[row])!r}) at row {row}, "
            "but target_transform='log' needs every lifespan > 0. Remove or fix that row, "
            "or use target_transform='none'."
        )
    return "log"


def apply_transform(y: np.ndarray, transform: str) -> np.ndarray:
    """Apply a resolved transform to raw target values."""
    return np.log(y) if transform == "log" else np.asarray(y, dtype=float)
