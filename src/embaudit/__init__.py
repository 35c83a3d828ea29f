"""embaudit: do trends read off a neural network's embedding survive held-out data?

Public API: :func:`audit`, :func:`load_table`, :mod:`embaudit.worlds`, and the
configuration and result objects.
"""

from embaudit import worlds
from embaudit.audit import audit
from embaudit.config import AuditConfig
from embaudit.data.table import Table, load_table
from embaudit.errors import ConfigError, DataError, EmbauditError
from embaudit.results import AuditResult, Position

__version__ = "0.1.0"

__all__ = [
    "AuditConfig",
    "AuditResult",
    "ConfigError",
    "DataError",
    "EmbauditError",
    "Position",
    "Table",
    "audit",
    "load_table",
    "worlds",
]
