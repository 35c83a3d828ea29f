"""Errors a user can act on.

Every message names the column, row or option at fault and says what to do; the CLI
prints them as one paragraph and exits with code 2.
"""

from __future__ import annotations


class EmbauditError(ValueError):
    """Base class of every user-facing error in embaudit."""


class DataError(EmbauditError):
    """The input table cannot be audited as given (a column, row or value is at fault)."""


class ConfigError(EmbauditError):
    """An option of the audit configuration is invalid."""


class EmbauditWarning(UserWarning):
    """Input that can be audited but deserves a look (e.g. a feature that never varies)."""
