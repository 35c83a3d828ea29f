"""Online FDR over a sequence of claims checked one at a time against one holdout.

Each claim gets a test level from the claims before it (LORD++: Javanmard & Montanari
2018, Ramdas et al. 2017), so the 12th claim checked on its own does not get the first
claim's threshold, and the false discovery rate stays at ``alpha`` over the whole
sequence. The levels come from ``online_fdr.p_values.LordPlusPlus``; this module only
replays a recorded sequence through it and says what is left of the error budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from online_fdr.p_values import LordPlusPlus

from embaudit.errors import ConfigError

#: the rule's name as ledgers and reports print it
RULE_NAME = "LORD++"


@dataclass(frozen=True)
class OnlineStep:
    """One claim's place in the sequence: its test level, whether it was rejected, and
    the error budget (alpha-wealth) left after it."""

    number: int
    level: float
    rejected: bool
    wealth: float


@dataclass(frozen=True)
class OnlineRule:
    """LORD++ at FDR level ``alpha`` with initial wealth ``initial_wealth``.

    The default initial wealth, ``alpha / 2``, spends more on the first claims than the
    R package onlineFDR's ``alpha / 10``: an analyst's ledger holds a dozen claims, not
    thousands. FDR control holds for independent p-values; whatever the dependence,
    with no true claim among them the chance of any false survival is at most the
    initial wealth (a union bound over the levels spent before the first rejection).
    """

    alpha: float
    initial_wealth: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha={self.alpha}: the online FDR level must lie in (0, 1).")
        wealth = self.wealth0
        if not 0 < wealth <= self.alpha:
            raise ConfigError(f"initial_wealth={wealth}: it must lie in (0, alpha={self.alpha}].")

    @property
    def wealth0(self) -> float:
        return self.alpha / 2 if self.initial_wealth is None else self.initial_wealth

    def describe(self) -> str:
        return f"{RULE_NAME} (FDR {self.alpha:g}, initial wealth {self.wealth0:g})"

    def replay(self, p_values: Sequence[float]) -> list[OnlineStep]:
        """The steps of the sequence ``p_values`` (in the order they were checked)."""
        procedure = LordPlusPlus(alpha=self.alpha, wealth=self.wealth0)
        steps = []
        for number, p in enumerate(p_values, start=1):
            rejected = procedure.test_one(min(max(float(p), 0.0), 1.0))
            steps.append(OnlineStep(number, float(procedure.alpha), bool(rejected),
                                    float(procedure.wealth)))
        return steps
