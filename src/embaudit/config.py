"""Audit configuration: validated options with defaults, read from Python or TOML."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from embaudit.core.regimes import REGIMES, TrainedRegime
from embaudit.errors import ConfigError

#: the regimes an audit trains by default: overfit, weight decay and early stopping alone
#: and together, and both linear baselines. ``dropout`` and ``batch_norm`` train about 5
#: and 4 times longer (measured on the demo world) and are added by name.
DEFAULT_REGIMES: tuple[TrainedRegime, ...] = (
    "overfit", "regularized", "weight_decay", "early_stopping", "linear", "pls")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    """Where the table is and which column plays which role."""

    path: Path | None = None
    target: str | None = None
    attributes: list[str] = Field(default_factory=list)
    features: list[str] | None = None
    covariates: list[str] | None = None
    id: str | None = None
    group: str | None = None
    event: str | None = Field(None, description="1: failed at the lifespan; 0: still in "
                              "service then (right-censored)")
    target_transform: Literal["auto", "log", "none"] = "auto"
    images: str | None = Field(None, description="column with a picture of each object (a "
                               "local path or URL), shown by the axis explorer")


class SplitConfig(_Section):
    """Discovery / holdout split: stratified on target quantiles, groups kept together."""

    holdout_fraction: float = Field(0.3, gt=0.05, lt=0.95)
    n_strata: int = Field(5, ge=1, le=50)
    crossfit_folds: int = Field(
        0, ge=0, le=20, description="0: off; K ≥ 2: K-fold cross-fit beside the main split")

    @model_validator(mode="after")
    def _check(self) -> SplitConfig:
        if self.crossfit_folds == 1:
            raise ValueError("split.crossfit_folds=1: cross-fitting needs at least 2 folds; "
                             "set 0 to turn it off")
        return self


class NetworkConfig(_Section):
    """Architecture of every member: p → hidden… → 1, ReLU."""

    hidden: tuple[int, ...] = (64, 16)
    embedding_layer: int = -1
    pre_activation: bool = False

    @model_validator(mode="after")
    def _check(self) -> NetworkConfig:
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError("hidden must list at least one positive layer width")
        if not -len(self.hidden) <= self.embedding_layer < len(self.hidden):
            raise ValueError(
                f"embedding_layer={self.embedding_layer} is outside the {len(self.hidden)} "
                "hidden layers"
            )
        return self


class TrainingConfig(_Section):
    """How members are trained; every member of a chunk shares its mini-batches."""

    regimes: list[TrainedRegime] = Field(default_factory=lambda: list(DEFAULT_REGIMES))
    optimizer: Literal["adam", "sgd", "lbfgs"] = "adam"
    loss: Literal["auto", "mse", "aft", "cox"] = Field(
        "auto", description="auto: aft with an event column, else mse; aft: log-normal "
        "accelerated failure time (censored rows: log survival); cox: Cox partial "
        "likelihood per mini-batch (full batch: batch_size = None); mse: censoring ignored")
    cox_ties: Literal["efron", "breslow"] = Field("efron", description="cox: tied times")
    learning_rate: float = Field(1e-3, gt=0, description="L-BFGS: step length (1.0 usual)")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD only")
    batch_size: int | None = Field(64, ge=1, description="None: full batch")
    max_epochs: int = Field(300, ge=1)
    lr_schedule: Literal["none", "cosine"] = "none"
    overfit_tolerance: float = Field(
        0.01, gt=0, description="overfit target: training MSE below this fraction of var(y)"
    )
    weight_decay: float = Field(1e-2, gt=0, description="regimes with weight decay")
    dropout: float = Field(0.1, gt=0, lt=1, description="rate of the dropout regime")
    patience: int = Field(10, ge=1, description="early stopping: epochs without improvement")
    validation_fraction: float = Field(0.2, gt=0, lt=0.9, description="early stopping: each "
                                       "member's own validation share")
    lbfgs_history: int = Field(10, ge=1)
    lbfgs_iterations: int = Field(20, ge=1, description="L-BFGS iterations per batch")
    stop_at_validation_loss: float | None = Field(
        None, gt=0, description="early stopping: a member also stops once its validation "
        "loss (its target variance's units) reaches this; the optimizer study sets it to "
        "match optimizers on validation loss")
    lbfgs_line_search: Literal["strong_wolfe", "golden_section"] = Field(
        "strong_wolfe", description="L-BFGS step lengths: torch's strong-Wolfe search, or "
        "golden-section search with a fixed budget (the loss-landscape paper's "
        "quasi-Newton), guarded by Armijo's test")
    memory_budget_mb: float = Field(1024, gt=0, description="sizes the chunks of members "
                                    "and the landscape's curvature batches")
    device: str = Field("cpu", pattern=r"^(cpu|cuda(:[0-9]+)?)$", description="where "
                        "networks train: cpu, or cuda[:N] (members and data on that GPU, "
                        "in this process)")
    chunk_size: int | None = Field(None, ge=1, description="members per chunk (overrides "
                                   "the memory budget)")


class ResamplingConfig(_Section):
    """Resampled members of each regime, and how their embeddings are aligned."""

    n_bootstrap: int = Field(30, ge=2)
    n_permutations: int = Field(99, ge=1)
    bootstrap: Literal["auto", "plain", "cluster", "subsample"] = Field(
        "auto", description="auto: cluster (whole groups) when a group column is given")
    subsample_fraction: float = Field(0.5, gt=0, lt=1,
                                      description="subsample: m-out-of-n, without replacement")
    permute_within: Literal["auto", "none", "groups", "strata"] = Field(
        "auto", description="auto: within groups when a group column is given")
    strata: str | None = Field(None, description="column whose levels are the strata")
    alignment: Literal["procrustes", "units"] = Field(
        "procrustes", description="fitted per bootstrap member on its in-bag rows")
    alignment_scale: bool = False
    allow_reflection: bool = True
    protest_permutations: int = Field(99, ge=1)


class ExecutionConfig(_Section):
    """Where members train: local worker processes, or a Dask cluster."""

    executor: Literal["local", "dask"] = "local"
    scheduler: str | None = Field(None, description="Dask scheduler address; none: a "
                                  "LocalCluster")
    n_workers: int | None = Field(None, ge=1, description="processes training chunks side "
                                  "by side, one thread each (local, or the LocalCluster's); "
                                  "none: one per core; 1 (local): in this process")


class DiscoveryConfig(_Section):
    """How hypotheses are read off an embedding."""

    mode: Literal["axis", "slice"] = "axis"
    slice_fraction: float = Field(0.5, gt=0, le=1)
    raw_screening: bool = True


class StatisticsConfig(_Section):
    """Error rates and verdict thresholds."""

    alpha: float = Field(0.10, gt=0, lt=1, description="level of the holdout q-values (FDR "
                         "for fdr_bh / fdr_by, family-wise for holm / maxt)")
    correction: Literal["fdr_bh", "fdr_by", "holm", "maxt"] = Field(
        "fdr_bh", description="holdout multiplicity: BH / BY (FDR), Holm or Westfall–Young "
        "max-T over holdout permutations (FWER)")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="level of every interval")
    n_resamples: int = Field(2000, ge=100, description="bootstrap resamples of holdout rows")
    n_holdout_permutations: int = Field(9999, ge=99, description="permutations for max-T")
    alpha_discovery: float = Field(0.05, gt=0, lt=1, description="found: p_discovery ≤ this")
    n_screen_permutations: int = Field(
        999, ge=99, description="attribute permutations of the discovery screen (found)")
    min_effect: float = Field(
        0.1, gt=0, lt=1, description="smallest holdout effect of interest (Spearman's "
        "rho; censored lifespans: Somers' D, or a log hazard ratio per SD given "
        "covariates): an interval wholly below it fails; inconclusive trends get the "
        "holdout size that detects it")
    power: float = Field(0.8, gt=0, lt=1)
    position_alpha: float = Field(
        0.025, gt=0, lt=0.5, description="Person A vs B: each one-sided bound of the "
        "readings' advantage over chance readings is at this level (0.025: the two "
        "bounds are a 95% interval)")
    useful_advantage: float = Field(
        0.05, gt=0, lt=1, description="Person A vs B: the advantage of the readings' mean "
        "holdout effect over chance readings that is worth having (0.05: one reading in "
        "two with an effect of 0.1, or one in six with 0.3)")


class LandscapeConfig(_Section):
    """Loss-landscape diagnostics of the members, and the optimizer study."""

    enabled: bool = Field(False, description="depth, sharpness, barriers, basins of minima")
    optimizers: list[Literal["adam", "sgd", "lbfgs"]] = Field(
        default_factory=list, description="optimizer study: each regime's sampled members "
        "trained again with each of these (the training optimizer is always included)")
    members: int = Field(10, ge=2, le=64, description="minima per regime and optimizer: "
                         "the reference and seed replicates of it (same rows, other "
                         "initializations), enough for basins to be able to split")
    lanczos_steps: int = Field(60, ge=2, description="at most this many Lanczos "
                               "iterations for λ_max, λ_min")
    lanczos_tolerance: float = Field(1e-3, gt=0, lt=1, description="Lanczos stops when "
                                     "both extremes' residuals are within this share of "
                                     "max |λ|; a point that does not get there is listed "
                                     "as 'curvature not converged'")
    gradient_tolerance: float = Field(1e-4, gt=0, description="a point is stationary when "
                                      "its gradient norm (common units) is at most this")
    polish_iterations: int = Field(1000, ge=0, description="L-BFGS iterations polishing each "
                                   "point to the gradient tolerance")
    curvature_tolerance: float = Field(1e-3, ge=0, description="a stationary point is a "
                                       "saddle when λ_min < -this × λ_max")
    trace_products: int = Field(30, ge=3, description="Hessian-vector products of Hutch++")
    fourier_terms: int = Field(4, ge=1, description="sine terms of the curved path")
    path_steps: int = Field(50, ge=0, description="Adam steps fitting each curved path")
    path_rows: int = Field(256, ge=16, description="rows per step when fitting a path")
    measure_stopped: bool = Field(False, description="also measure paths and basins between "
                                  "early-stopped points (not minima: the loss-landscape "
                                  "paper's early-stopping comparison; pairs say `ends`)")
    basin_threshold: float = Field(
        0.05, ge=0, description="the disconnectivity graph is cut this far above its "
        "lowest minimum (units of the lifespan variance on the discovery rows): minima "
        "joined by saddles below the cut share a basin")


class AuditConfig(_Section):
    """Everything an audit needs; the same config gives the same audit."""

    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    resampling: ResamplingConfig = Field(default_factory=ResamplingConfig)
    discovery: DiscoveryConfig = Field(default_factory=DiscoveryConfig)
    statistics: StatisticsConfig = Field(default_factory=StatisticsConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    landscape: LandscapeConfig = Field(default_factory=LandscapeConfig)
    seed: int = Field(0, ge=0)
    out: Path | None = None
    sealed: bool = Field(True, description="reports show holdout numbers only for what the "
                         "audit tested on the holdout (found hypotheses, readings)")

    @model_validator(mode="after")
    def _check(self) -> AuditConfig:
        regimes = self.training.regimes
        if self.training.optimizer == "lbfgs" and any(REGIMES[r].dropout for r in regimes):
            raise ValueError("training.optimizer='lbfgs' with the dropout regime: dropout "
                             "makes the line search's objective random; drop 'dropout' from "
                             "training.regimes or use optimizer='adam'")
        if self.landscape.enabled and not any(REGIMES[r].trains_network for r in regimes):
            raise ValueError("landscape.enabled needs a network regime in training.regimes "
                             f"(got {regimes}): the linear baselines have no loss landscape")
        if "lbfgs" in self.landscape.optimizers and any(REGIMES[r].dropout for r in regimes):
            raise ValueError("landscape.optimizers has 'lbfgs' and training.regimes has "
                             "'dropout': dropout makes the line search's objective random; "
                             "drop one of them")
        if self.landscape.enabled and self.training.loss == "cox":
            raise ValueError("landscape.enabled with training.loss='cox': the landscape "
                             "measures squared error in log lifespan, which a Cox network "
                             "does not predict; use loss='aft' or turn the landscape off")
        if len(set(self.landscape.optimizers)) != len(self.landscape.optimizers):
            raise ValueError(f"landscape.optimizers lists an optimizer twice: "
                             f"{self.landscape.optimizers}")
        if len(set(regimes)) != len(regimes):
            raise ValueError(f"training.regimes lists a regime twice: {regimes}")
        if not regimes and not self.discovery.raw_screening:
            raise ValueError("nothing to audit: training.regimes is empty and "
                             "discovery.raw_screening is false")
        if self.resampling.alignment == "units" and not self.resampling.allow_reflection:
            raise ValueError("resampling.alignment='units' flips signs, which are "
                             "reflections: set resampling.allow_reflection=true or use "
                             "alignment='procrustes'")
        smallest = (self.statistics.n_screen_permutations + 1) * self.statistics.alpha_discovery
        if smallest < 1:
            needed = int(np.ceil(1 / self.statistics.alpha_discovery)) - 1
            raise ValueError(
                f"statistics.n_screen_permutations={self.statistics.n_screen_permutations} "
                f"cannot give a discovery p as small as statistics.alpha_discovery="
                f"{self.statistics.alpha_discovery}: use at least {needed} permutations or a "
                "larger alpha_discovery"
            )
        return self

    @classmethod
    def from_toml(cls, path: str | Path, flags: dict[str, str] | None = None,
                  **overrides: Any) -> AuditConfig:
        """Read a TOML file; ``overrides`` (nested dicts) replace what it says, and an
        error names an override by its command-line flag in ``flags`` (option → flag)."""
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(
                f"Config file {str(path)!r} does not exist; check the path."
            ) from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"Config file {str(path)!r} is not valid TOML: {error}.") from None
        return build_config(raw, source=str(path), overrides=overrides, flags=flags)


def build_config(
    values: AuditConfig | dict[str, Any] | None, source: str = "config",
    overrides: dict[str, Any] | None = None, flags: dict[str, str] | None = None,
) -> AuditConfig:
    """Validate ``values`` with ``overrides`` (the command line's) laid over them into an
    :class:`AuditConfig`. A bad option is named with where its value came from: the
    command line (by its flag in ``flags``), ``source``, or the default; an unknown
    name with the option it most resembles."""
    if isinstance(values, AuditConfig):
        return values
    origin = _Origins(values or {}, overrides or {}, source, flags or {})
    try:
        return AuditConfig.model_validate(_merge(values or {}, overrides or {}))
    except ValidationError as error:
        problems = [origin.problem(e) for e in error.errors()]
        raise ConfigError(
            f"Invalid {origin.where(problems)}: {'; '.join(text for text, _ in problems)}. "
            "Fix these options (see the README for every option and its default)."
        ) from None


@dataclass(frozen=True)
class _Origins:
    """Where each option's value came from, for error messages."""

    values: dict[str, Any]
    overrides: dict[str, Any]
    source: str
    flags: dict[str, str]

    def of(self, path: str) -> str:
        """"--flag" (command line), "from SOURCE", or "default" for option ``path``."""
        if _lookup(self.overrides, path) is not None:
            flag = self.flags.get(path)
            return flag if flag else "from the command line"
        if _lookup(self.values, path) is not None:
            return f"from {self.source}"
        return "default"

    def problem(self, error: Any) -> tuple[str, str]:
        """One validation error in words: the option and where its value came from, what
        is wrong, a likely name for an unknown one. Returns (text, origin)."""
        loc = [str(part) for part in error["loc"]]
        message = str(error["msg"]).removeprefix("Value error, ")
        if not loc:  # a rule across options: say where each one it names came from
            named = [p for p in dict.fromkeys(re.findall(r"\b[a-z_]+\.[a-z_]+\b", message))
                     if _known(p)]
            where = "; ".join(f"{p} {self.of(p)}" for p in named)
            return f"{message}{f' ({where})' if where else ''}", ""
        path = ".".join(loc)
        origin = self.of(path)
        name = f"{origin} ({path})" if origin.startswith("--") else \
            f"option {path} ({origin})"
        text = f"{name}: {message}"
        if error["type"] == "extra_forbidden":
            text += _did_you_mean(loc)
        return text, origin

    def where(self, problems: list[tuple[str, str]]) -> str:
        """What the message header blames: the command line, the file, or both."""
        origins = {"command line" if o.startswith(("--", "from the command")) else
                   self.source for _, o in problems if o and o != "default"}
        return " and ".join(sorted(origins)) or "options"


def _lookup(values: dict[str, Any], path: str) -> Any:
    found: Any = values
    for part in path.split("."):
        found = found.get(part) if isinstance(found, dict) else None
    return found


def _known(path: str) -> bool:
    """Whether ``path`` names an option of :class:`AuditConfig`."""
    model: Any = AuditConfig
    for part in path.split("."):
        field = model.model_fields.get(part) if isinstance(model, type) and \
            issubclass(model, BaseModel) else None
        if field is None:
            return False
        model = field.annotation
    return True


def _did_you_mean(loc: list[str]) -> str:
    model: Any = AuditConfig
    for part in loc[:-1]:
        field = model.model_fields.get(part)
        model = field.annotation if field is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return ""
    close = get_close_matches(loc[-1], list(model.model_fields), n=1, cutoff=0.6)
    return f" (did you mean {'.'.join([*loc[:-1], close[0]])}?)" if close else ""


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` laid over it; None in ``overrides`` means 'not given'."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict):
            merged[key] = _merge(merged.get(key) or {}, value)
        elif value is not None:
            merged[key] = value
    return merged
