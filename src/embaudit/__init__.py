"""embaudit: do trends read off a neural network's embedding survive held-out data?

Public API: :func:`audit`, :func:`check_claim` / :func:`check_claims` (with
:func:`load_member` for a saved audit's network), :func:`load_table`,
:mod:`embaudit.worlds`, and the configuration and result objects.
"""

import os

# MKL's conditional numerical reproducibility, best code path for the CPU: without it,
# MKL picks kernels by shape and alignment, so on some CPUs (AMD EPYC, measured) a
# member's output-layer products round differently inside an ensemble than alone. Read
# by MKL at its first call; a user's own MKL_CBWR wins. (Forcing the AVX2 path instead
# broke the same property on another CPU.)
os.environ.setdefault("MKL_CBWR", "AUTO")

from embaudit import worlds
from embaudit.audit import audit
from embaudit.claims import ClaimReport, ClaimVerdict, check_claim, check_claims
from embaudit.config import AuditConfig
from embaudit.data.table import Table, load_table
from embaudit.errors import ConfigError, DataError, EmbauditError
from embaudit.model import MemberModel, load_member
from embaudit.results import AuditResult, Position

__version__ = "0.1.0"

__all__ = [
    "AuditConfig",
    "AuditResult",
    "ClaimReport",
    "ClaimVerdict",
    "ConfigError",
    "DataError",
    "EmbauditError",
    "MemberModel",
    "Position",
    "Table",
    "audit",
    "check_claim",
    "check_claims",
    "load_member",
    "load_table",
    "worlds",
]
