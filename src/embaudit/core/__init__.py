"""Definitions every subpackage may import; ``embaudit.core`` imports none of them."""

from embaudit.core.regimes import (
    LEAD_REGIME,
    RAW,
    REGIMES,
    Regime,
    TrainedRegime,
    lead_regime,
    regime,
)

__all__ = ["LEAD_REGIME", "RAW", "REGIMES", "Regime", "TrainedRegime", "lead_regime", "regime"]
