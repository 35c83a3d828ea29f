"""Claims about attributes and lifespan, checked on rows a model never trained on.

:mod:`~embaudit.claims.check` tests claims on the rows given; :mod:`~embaudit.claims.ledger`
tests them on a saved audit's holdout, one claim after another, and records each in the
audit's claims ledger under online FDR control.
"""

from embaudit.claims.check import (
    Claim,
    ClaimReport,
    ClaimVerdict,
    check_claim,
    check_claims,
    load_member,
)
from embaudit.claims.ledger import LedgerCheck, check_against_audit, claims_ledger

__all__ = ["Claim", "ClaimReport", "ClaimVerdict", "LedgerCheck", "check_against_audit",
           "check_claim", "check_claims", "claims_ledger", "load_member"]
