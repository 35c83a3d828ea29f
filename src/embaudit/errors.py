"""Errors a user can act on.

Every message names the column, row or option at fault and says what to do; the CLI
prints them as one paragraph and exits with code 2.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class EmbauditError(ValueError):
    """Base class of every user-facing error in embaudit."""


class DataError(EmbauditError):
    """The input table cannot be audited as given (a column, row or value is at fault)."""


class ConfigError(EmbauditError):
    """An option of the audit configuration is invalid."""


class EmbauditWarning(UserWarning):
    """Input that can be audited but deserves a look (e.g. a feature that never varies)."""


class NumericalWarning(EmbauditWarning):
    """A numerical library warned while a statistic was computed: what was being
    computed, what the library said, and what the number it touched means now."""


@contextmanager
def library_warnings_logged(own: Callable[[str], None] | None = None) -> Iterator[None]:
    """Inside, warnings of other libraries (a trainer's advice, deprecations) go to the
    ``embaudit`` logger at INFO instead of printing raw above the progress; embaudit's
    own warnings show as usual, or through ``own(text)``. Statistics stages turn theirs
    into a :class:`NumericalWarning` first (:func:`numerical_warnings`)."""
    original = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        if issubclass(category, EmbauditWarning) and own is not None:
            own(str(message))
        elif issubclass(category, EmbauditWarning):
            original(message, category, filename, lineno, file, line)
        else:
            logging.getLogger("embaudit").info("%s from %s:%s: %s", category.__name__,
                                               filename, lineno, message)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original


@contextmanager
def numerical_warnings(stage: str) -> Iterator[None]:
    """Collect the runtime warnings numpy, scipy and statsmodels raise inside ``stage``
    (divide by zero, convergence, perfect separation...) and emit one
    :class:`NumericalWarning` in the project's words instead of the raw lines above the
    progress bars. A number a warning touched is missing or penalized and says why in
    its own table; this message says where to look."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    raw = [w for w in caught if not issubclass(w.category, EmbauditWarning)]
    for w in caught:
        if issubclass(w.category, EmbauditWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if raw:
        kinds = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0][:120]}"
                        for w in raw})
        warnings.warn(
            f"While computing {stage}, numerical libraries warned {len(raw)} time(s) "
            f"({'; '.join(kinds[:3])}{' …' if len(kinds) > 3 else ''}). Numbers they "
            "touched are reported as missing with their reason (or, for a Cox fit, as "
            "penalized); nothing else changed. If a column is at fault (constant, "
            "extreme values, a perfect separation), check it before trusting its row.",
            NumericalWarning, stacklevel=3)
