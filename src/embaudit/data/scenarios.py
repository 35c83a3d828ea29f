"""Worlds with planted truth for calibrating the verdicts (``benchmarks/calibration.py``).

Censored scenarios observe min(lifespan, censoring time) and whether the lifespan ended
first; the truth stays that of the lifespans themselves.

Each attribute measures (with noise) one latent property; features are a random
non-linear map of all latents plus noise; log-lifespan is linear in some latents plus
noise. The truth of "attribute a relates to lifespan in direction s" is the sign of the
population Spearman correlation of a with lifespan, computed once per scenario on a
large sample (:func:`population_spearman`): exactly 0 for attributes whose latent is
independent of every effective latent.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from scipy import stats

from embaudit.data.table import load_table
from embaudit.data.worlds import MEDIAN_LIFESPAN_DAYS, World, latent_features, truth_sign
from embaudit.errors import ConfigError

#: effects on log-lifespan of the planted attributes: population Spearman ≈ 0.1–0.4
PLANTED = (0.15, -0.33, 0.5, -0.68)
_ATTRIBUTE_NOISE = 0.5
_LIFESPAN_NOISE = 1.0
_LOG_LIFESPAN_LIMIT = 30.0


@dataclass(frozen=True)
class Scenario:
    """How a calibration world is drawn."""

    name: str
    n: int
    p: int
    effects: tuple[float, ...]  # per attribute; 0 = no effect on lifespan
    loadings: tuple[float, ...] | None = None  # per attribute's latent, on the features
    correlation: float = 0.0  # between latents of the same block (planted / the rest)
    heavy_tailed: bool = False  # lifespan noise Student t with 2 degrees of freedom
    #: share of lifespans right-censored, by censoring times drawn independently of
    #: everything (0: every lifespan observed)
    censoring: float = 0.0
    #: censoring and lifespans both depend on an observed covariate (``usage``), which
    #: three null attributes also measure: the tests need it as a covariate
    informative: bool = False
    #: effects on log-lifespan of latents that the features encode and no attribute
    #: measures (lifespan then depends on the features beyond the attributes)
    hidden_effects: tuple[float, ...] = ()
    description: str = ""

    @property
    def roles(self) -> list[str]:
        return ["true" if e else ("spurious" if self.loading(i) > 1 else "noise")
                for i, e in enumerate(self.effects)]

    def loading(self, index: int) -> float:
        """How strongly the features encode latent ``index`` (an attribute's; the usage
        and hidden latents after them, encoded with loading 1)."""
        if self.loadings is None or index >= len(self.loadings):
            return 1.0
        return self.loadings[index]


_NULLS = (0.0,) * 8
#: attributes partly encoded in the features: six fully, three weakly, three not at all
_PARTLY_ENCODED = (1.0,) * 6 + (0.4,) * 3 + (0.0,) * 3
#: effects of the latents only the features carry
_HIDDEN = (0.6, -0.5, 0.4, -0.4)
#: planted effects of the leads scenario (on four fully encoded attributes)
_LEADS = (0.6, -0.6, 0.5, -0.5)
SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("global_null", 1000, 100, (0.0,) * 12,
             description="no attribute relates to lifespan"),
    Scenario("sparse", 2000, 100, PLANTED + _NULLS,
             description="4 planted effects among 12 attributes, n = 2000"),
    Scenario("spurious", 1000, 100, PLANTED[2:] + (0.0,) * 8,
             loadings=(0.5, 0.5) + (3.0,) * 6 + (1.0,) * 2,
             description="6 null attributes strongly encoded in the features, planted "
                         "ones weakly"),
    Scenario("small_n", 300, 500, PLANTED + _NULLS, description="n = 300 rows, p = 500"),
    Scenario("heavy_tailed", 1000, 100, PLANTED + _NULLS, heavy_tailed=True,
             description="lifespan noise Student t (2 df)"),
    Scenario("correlated", 1000, 100, PLANTED + _NULLS, correlation=0.5,
             description="attributes correlated within the planted and the null block"),
    Scenario("censored_30", 1000, 100, PLANTED + _NULLS, censoring=0.3,
             description="30% of lifespans censored, independently"),
    Scenario("censored_70", 1000, 100, PLANTED + _NULLS, censoring=0.7,
             description="70% of lifespans censored, independently"),
    Scenario("censored_informative", 1000, 100, PLANTED + _NULLS, censoring=0.5,
             informative=True,
             description="half the lifespans censored, sooner for heavy usage, which also "
                         "shortens lifespans and which three null attributes track; "
                         "audited with usage as a covariate"),
    Scenario("features_only", 2000, 500, (0.0,) * 12, loadings=_PARTLY_ENCODED,
             hidden_effects=_HIDDEN,
             description="lifespan depends on latents the features encode and no attribute "
                         "measures; the 12 attributes, partly encoded in the features, have "
                         "no effect (Person B is right)"),
    Scenario("leads", 2000, 500, _LEADS + (0.0,) * 8, loadings=_PARTLY_ENCODED,
             hidden_effects=_HIDDEN,
             description="as features_only, but four attributes drive lifespan too "
                         "(population |rho| 0.24–0.29; Person A is right)"),
    Scenario("memorised", 2000, 500, (0.8,) + (0.0,) * 11,
             loadings=(0.0, *_PARTLY_ENCODED[1:]), hidden_effects=_HIDDEN,
             description="one attribute drives lifespan but is absent from the features: "
                         "an overfit network's axes order it on the training rows only"),
)}
#: the covariate of informative censoring: what the censoring and the lifespans depend on
USAGE = "usage"
#: informative censoring: usage's effect on log lifespan and on log censoring time, and
#: the correlation of three null attributes' latents with it
_USAGE_EFFECT, _USAGE_CENSORING, _USAGE_TRACKED = -0.5, -1.0, 0.6
#: the column of a censored world saying whether each lifespan ended in a failure
EVENT = "event"


def _latents(scenario: Scenario, n: int, rng: np.random.Generator) -> np.ndarray:
    """Standard-normal latents, correlated within the planted and the null block."""
    planted = np.array([e != 0 for e in scenario.effects])
    z = rng.standard_normal((n, len(planted)))
    if scenario.correlation:
        rho = scenario.correlation
        for block in (planted, ~planted):
            shared = rng.standard_normal((n, 1))
            z[:, block] = np.sqrt(rho) * shared + np.sqrt(1 - rho) * z[:, block]
    return z


def _draw(scenario: Scenario, n: int, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latents, attributes (noisy measurements) and log-lifespans; with informative
    censoring the last latent is usage (no attribute of its own)."""
    z = _latents(scenario, n, rng)
    usage = np.zeros(n)
    if scenario.informative:
        usage = rng.standard_normal(n)
        tracked = [i for i, e in enumerate(scenario.effects) if not e][:3]
        z[:, tracked] = _USAGE_TRACKED * usage[:, None] + np.sqrt(
            1 - _USAGE_TRACKED**2) * z[:, tracked]
    attributes = z + _ATTRIBUTE_NOISE * rng.standard_normal(z.shape)
    hidden = rng.standard_normal((n, len(scenario.hidden_effects)))
    noise = rng.standard_t(2, n) if scenario.heavy_tailed else rng.standard_normal(n)
    log_life = z @ np.array(scenario.effects) + _LIFESPAN_NOISE * noise + \
        _USAGE_EFFECT * usage + hidden @ np.array(scenario.hidden_effects, ndmin=1)
    if scenario.informative:
        z = np.column_stack([z, usage])
    z = np.column_stack([z, hidden])
    # t(2) noise reaches hundreds on rare rows: keep lifespans within float range (> 0)
    return z, attributes, np.clip(log_life, -_LOG_LIFESPAN_LIMIT, _LOG_LIFESPAN_LIMIT)


@cache
def population_spearman(name: str, n: int = 200_000) -> tuple[float, ...]:
    """Spearman(attribute, lifespan) per attribute on a large sample (fixed seed);
    exactly 0 for attributes independent of every planted latent."""
    scenario = SCENARIOS[name]
    z, attributes, log_life = _draw(scenario, n, np.random.default_rng(12345))
    rho = stats.spearmanr(np.column_stack([log_life, attributes])).statistic[0, 1:]
    if scenario.informative:  # the audit tests partial association given usage
        ranks = stats.rankdata(np.column_stack([log_life, attributes]), axis=0)
        design = np.column_stack([np.ones(n), stats.rankdata(z[:, -1])])
        residual = ranks - design @ np.linalg.lstsq(design, ranks, rcond=None)[0]
        rho = np.corrcoef(residual, rowvar=False)[0, 1:]
    # the null block is independent of the planted one: its latents have no effect
    return tuple(float(r) if e else 0.0 for r, e in zip(rho, scenario.effects, strict=True))


def _censoring_drift(scenario: Scenario, z: np.ndarray) -> np.ndarray | float:
    """How censoring times move with usage (informative censoring), else 0."""
    return _USAGE_CENSORING * z[:, -1] if scenario.informative else 0.0


@cache
def censoring_shift(name: str, n: int = 200_000) -> float:
    """The shift of independent censoring times (log scale) that censors the scenario's
    share of lifespans: the quantile of the difference of two independent lifespans."""
    scenario = SCENARIOS[name]
    z, _, log_life = _draw(scenario, n, np.random.default_rng(54321))
    censor = np.random.default_rng(1).permutation(log_life) + _censoring_drift(scenario, z)
    difference = log_life - censor
    return float(np.quantile(difference, 1 - scenario.censoring))  # P(T > C) = share


def scenario_world(name: str, seed: int) -> tuple[World, dict[str, float]]:
    """One world of scenario ``name``, and each attribute's population Spearman rho."""
    if name not in SCENARIOS:
        raise ConfigError(f"Unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}.")
    scenario = SCENARIOS[name]
    rng = np.random.default_rng(seed)
    z, attributes, log_life = _draw(scenario, scenario.n, rng)
    names = [f"a{i:02d}_{role}" for i, role in enumerate(scenario.roles)]
    latent_names = [f"z{i}" for i in range(z.shape[1])]
    loaded = z * np.array([scenario.loading(i) for i in range(z.shape[1])])
    features = latent_features(loaded, latent_names, scenario.p, 1.0, rng)
    failed = np.ones(len(log_life), dtype=bool)
    if scenario.censoring:  # censoring times: an independent draw of the lifespans, shifted
        censor = rng.permutation(log_life) + censoring_shift(name) + \
            _censoring_drift(scenario, z)
        failed = log_life <= censor
        log_life = np.minimum(log_life, censor)
    frame = pd.concat([
        pd.DataFrame({"lifespan_days": MEDIAN_LIFESPAN_DAYS * np.exp(log_life),
                      EVENT: failed.astype(int)}),
        pd.DataFrame(features, columns=[f"f{j:03d}" for j in range(scenario.p)]),
        pd.DataFrame(attributes, columns=names),
    ], axis=1)
    if scenario.informative:
        frame[USAGE] = z[:, -1]
    table = load_table(frame, target="lifespan_days", features=["f*"], attributes=names,
                       target_transform="log", event=EVENT if scenario.censoring else None,
                       covariates=[USAGE] if scenario.informative else None)
    rho = dict(zip(names, population_spearman(name), strict=True))
    truth = {a: truth_sign(r) for a, r in rho.items()}
    roles = dict(zip(names, scenario.roles, strict=True))
    return World(table, truth, roles, pd.DataFrame(z, columns=latent_names)), rho  # type: ignore[arg-type]
