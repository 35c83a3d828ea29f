"""Result objects: tidy DataFrames with a statsmodels-style ``summary()``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from embaudit.config import AuditConfig, build_config
from embaudit.core.members import Split, member_id
from embaudit.core.schema import Position
from embaudit.core.summary import Block, Summarized, Summary, short_repr
from embaudit.data.features import FeatureChoice
from embaudit.data.table import Table
from embaudit.errors import ConfigError
from embaudit.hypotheses.evidence import QUALITY_COLUMNS
from embaudit.landscape import LANDSCAPE_TABLES, Landscape
from embaudit.store import AuditStore
from embaudit.store.ledger import LEDGER_COLUMNS, NOT_RECORDED, holdout_seal, read_ledger

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from embaudit.plots import FigureData


@dataclass(frozen=True, eq=False)
class AuditResult(Summarized):
    """Everything an audit found. DataFrames are tidy; their columns are in
    :mod:`embaudit.core.schema`."""

    config: AuditConfig
    table: Table = field(repr=False)
    split: Split = field(repr=False)
    hypotheses: pd.DataFrame = field(repr=False)
    regimes: pd.DataFrame = field(repr=False)
    position: Position
    #: the regime the position is decided on (``embaudit.core.regimes.lead_regime``)
    lead_regime: str
    null_strengths: pd.DataFrame = field(repr=False)  # regime, attribute, member_id, strength
    members: pd.DataFrame = field(repr=False)  # training diagnostics + alignment per member
    curves: pd.DataFrame = field(repr=False)  # member_id, epoch, train_loss, validation_loss
    embeddings: dict[str, np.ndarray] = field(repr=False)  # regime -> reference (n × h)
    truth: dict[str, str] | None = None
    #: attributes without any trend to test, per regime: regime, attribute, reason
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["regime", "attribute", "reason"], dtype="string"), repr=False)
    versions: dict[str, str] = field(default_factory=dict)
    #: K-fold cross-fit, one row per (regime, fold, attribute): see ``CROSSFIT_COLUMNS``
    crossfit: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    #: per regime: the mean replication rate across folds, its spread, and the
    #: attributes replicated in every fold (empty without cross-fit)
    crossfit_rates: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    #: per regime and attribute: folds that claimed it, agreed on its direction and
    #: replicated it (``AGREEMENT_COLUMNS``; empty without cross-fit)
    crossfit_agreement: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    #: per regime, attribute and aligned axis: the share of bootstrap networks whose best
    #: axis for the attribute it is (the stability heat map)
    stability: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["regime", "attribute", "axis", "share"]), repr=False)
    #: loss-landscape diagnostics and the optimizer study (None unless asked for)
    landscape: Landscape | None = field(default=None, repr=False)
    #: SHA-256 of the data the audit read (``Table.fingerprint``; filled in when empty)
    data_sha256: str = ""
    #: how the audit was started (the command line, or the Python call)
    command: str = ""
    #: the holdout's seal (``embaudit.store.ledger.holdout_seal``; filled in when empty)
    seal: dict[str, Any] = field(default_factory=dict)
    #: the claims ledger: every claim checked against the holdout since, in order
    claims: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=list(LEDGER_COLUMNS)), repr=False)
    #: how each chunk of members was computed: regime, chunk, members and
    #: ``store.compute.COMPUTE_KEYS`` (training path, device, BLAS, threads, …)
    compute: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def __post_init__(self) -> None:
        if not self.data_sha256:
            object.__setattr__(self, "data_sha256", self.table.fingerprint())
        if not self.seal:
            object.__setattr__(self, "seal", self.make_seal(NOT_RECORDED))

    def make_seal(self, made_at: str) -> dict[str, Any]:
        """This audit's seal on its holdout, as made at ``made_at``."""
        return holdout_seal(self.split.discovery, self.split.holdout, self.table.lifespan,
                            self.table.events, self.config.sealed, made_at)

    def crossfit_summary(self) -> pd.DataFrame:
        """Per regime: the cross-fit replication rate (a copy of ``crossfit_rates``)."""
        return self.crossfit_rates.copy()

    def to_frame(self) -> pd.DataFrame:
        """The hypotheses table (a copy)."""
        return self.hypotheses.copy()

    def surviving(self, regime: str | None = None) -> pd.DataFrame:
        """Hypotheses of ``regime`` (default: the lead regime) whose verdict is
        ``survives``."""
        regime = self.lead_regime if regime is None else regime
        h = self.hypotheses
        return h[(h["regime"] == regime) & (h["verdict"] == "survives")].copy()

    def tables(self) -> dict[str, pd.DataFrame]:
        """The store's result tables (``docs/store.md``), as ``save`` writes them
        (:data:`RESULT_TABLES` says which, in order)."""
        return {name: frame for part in RESULT_TABLES if part.write is not None
                for name, frame in part.write(self).items()}

    def metadata(self) -> dict[str, Any]:
        """What the store's metadata records of this audit (its identity is the store's)."""
        return {
            "config": self.config.model_dump(mode="json"),
            "versions": self.versions,
            "data_sha256": self.data_sha256,
            "roles": self.table.roles(),
            "feature_choice": None if self.table.feature_choice is None
            else asdict(self.table.feature_choice),
            "truth": self.truth,
            "lead_regime": self.lead_regime,
            "position": asdict(self.position),
            "command": self.command,
            "seal": self.seal,
        }

    def summary(self) -> Summary:
        """The verdict first, then the regimes, then the hypotheses (``str()`` is the
        text; a notebook shows it as HTML)."""
        head = [f"Rows: {self.table.n_rows} (discovery {len(self.split.discovery)}, "
                f"holdout {len(self.split.holdout)})   Features: {len(self.table.features)}   "
                f"Attributes: {len(self.table.attributes)}",
                *(self.table.feature_choice.lines() if self.table.feature_choice else []),
                f"Position: {self.position.position}"]
        blocks = [Block((*head, *[x for text in self.position.paragraphs()
                                  for x in (text, "")][:-1]))]
        regimes = self.regimes[["regime", "n_read", "n_read_replicated", "n_found",
                                "n_survives", "n_direct_leads", "read_effect", "null_effect",
                                "advantage", "axes_generalized", "holdout_loss"]]
        blocks.append(Block(frame=regimes, float_format=lambda v: f"{v:.3f}"))
        cols = ["regime", "attribute", "axis", "direction", "strength", "read", "replicates",
                "p_discovery", "found", "effect_holdout", "q_holdout", "verdict"]
        blocks.append(Block(frame=self.hypotheses[cols], float_format=lambda v: f"{v:.3g}"))
        if self.landscape is not None:
            blocks.append(Block((self.landscape.headline(),)))
        if not self.crossfit.empty:
            blocks += [Block(("Cross-fit replication (rate per fold: mean, sd)",)),
                       Block(frame=self.crossfit_summary(), float_format=lambda v: f"{v:.3f}")]
        return Summary(tuple(blocks), "embaudit audit")

    def figure_data(self) -> FigureData:
        """The pieces of this result its figures draw (what :meth:`plot` hands on)."""
        from embaudit.plots import FigureData

        return FigureData(
            hypotheses=self.hypotheses, regimes=self.regimes, lead_regime=self.lead_regime,
            table=self.table, split=self.split, embeddings=self.embeddings,
            null_strengths=self.null_strengths, members=self.members, curves=self.curves,
            stability=self.stability, landscape=self.landscape,
            confidence=self.config.statistics.confidence,
            training_loss=self.config.training.loss, sealed=self.config.sealed)

    def plot(self, kind: str, ax: Axes | None = None, **options: Any) -> Axes | Figure:
        """Draw figure ``kind`` of the report (:meth:`figures` lists them) on ``ax`` and
        return it, or without ``ax`` the report's figure on a new matplotlib Figure.

        Options pick what to draw: a hypothesis (``plot("trend", attribute="size",
        regime="overfit")``) or, on ``ax``, one panel of a multi-panel figure
        (``plot("forest", ax=ax, regime="raw")``). An unknown kind or option raises
        :class:`~embaudit.errors.ConfigError` naming the valid ones; a kind this audit
        has nothing to draw for (survival curves of uncensored lifespans) raises
        ``embaudit.plots.NoFigureError`` (a ConfigError) saying why.
        """
        from embaudit.plots import draw  # matplotlib loads when a figure is drawn

        return draw(kind, self.figure_data(), ax=ax, **options)

    @staticmethod
    def figures() -> dict[str, str]:
        """The figures :meth:`plot` draws: kind → what it shows and its options."""
        from embaudit.plots import FIGURES

        return dict(FIGURES)

    def __repr__(self) -> str:
        survivors = int((self.hypotheses["verdict"] == "survives").sum()) \
            if "verdict" in self.hypotheses else 0
        return short_repr("AuditResult", position=self.position.position,
                          regime=self.position.regime, rows=self.table.n_rows,
                          hypotheses=len(self.hypotheses), survive=survivors,
                          out=None if self.config.out is None else str(self.config.out))


Frames = dict[str, pd.DataFrame]


@dataclass(frozen=True)
class ResultTable:
    """One part of a result in the store: its tables, how :meth:`AuditResult.tables`
    gets them from a result, and which field :func:`load_result` reads them back into.

    A new result table is one entry of :data:`RESULT_TABLES` (and its field): saving and
    loading both follow the registry.
    """

    #: the field of :class:`AuditResult` it reads back into (None: derived from other
    #: fields, written for readers of the store and not read back)
    field: str | None
    #: its store tables
    names: tuple[str, ...]
    #: a result's tables (fewer, or none, where the result has nothing to write; None:
    #: written elsewhere, as members finish)
    write: Callable[[AuditResult], Frames] | None
    #: (the tables read back, the store's metadata) → the field's value
    read: Callable[[Frames, dict[str, Any]], Any] | None = None
    #: the field's value where the store lacks its tables (nothing to write, or an
    #: older store); None: they are required
    missing: Callable[[], Any] | None = None


def _same(name: str, *, optional: bool = False, only_with_crossfit: bool = False
          ) -> ResultTable:
    """A field stored as it is, in the table of its name (``optional``: an empty frame
    where the store lacks it)."""
    def write(result: AuditResult) -> Frames:
        if only_with_crossfit and result.crossfit.empty:
            return {}
        return {name: getattr(result, name)}

    return ResultTable(name, (name,), write, lambda frames, _: frames[name],
                       pd.DataFrame if optional else None)


def _write_data(result: AuditResult) -> Frames:
    """The table's columns with a role the reports read (not its features)."""
    table = result.table
    kept = [c for c in dict.fromkeys([table.target, *table.attributes, *table.covariates,
                                      table.id, table.group, table.event, table.images])
            if c is not None]
    return {"data": table.frame[kept].reset_index(drop=True)}


def _read_data(frames: Frames, metadata: dict[str, Any]) -> Table:
    roles = metadata["roles"]
    return Table(frame=frames["data"], target=roles["target"],
                 features=tuple(roles["features"]), attributes=tuple(roles["attributes"]),
                 covariates=tuple(roles["covariates"]), id=roles["id"], group=roles["group"],
                 target_transform=roles["target_transform"], event=roles.get("event"),
                 images=roles.get("images"),
                 feature_choice=_feature_choice(metadata.get("feature_choice")))


def _write_split(result: AuditResult) -> Frames:
    split = result.split
    return {"split": pd.DataFrame({
        "row": np.concatenate([split.discovery, split.holdout]),
        "part": ["discovery"] * len(split.discovery) + ["holdout"] * len(split.holdout),
    })}


def _read_split(frames: Frames, _: dict[str, Any]) -> Split:
    split = frames["split"]
    return Split(np.sort(split.loc[split["part"] == "discovery", "row"].to_numpy()),
                 np.sort(split.loc[split["part"] == "holdout", "row"].to_numpy()))


def _write_alignment(result: AuditResult) -> Frames:
    """Per bootstrap member, its alignment to the reference (from the members table)."""
    columns = ["member_id", "regime", "kind", *QUALITY_COLUMNS]
    members = result.members
    return {"alignment": members[columns].dropna(subset=["disparity"]) if not members.empty
            else pd.DataFrame(columns=columns)}


def _read_curves(frames: Frames, _: dict[str, Any]) -> pd.DataFrame:
    """The loss curves of the result's members (the store also holds the landscape's)."""
    curves = frames["curves"]
    if not curves.empty:
        curves = curves[curves["member_id"].isin(set(frames["result_members"]["member_id"]))]
    return curves.reset_index(drop=True)


def _read_compute(frames: Frames, _: dict[str, Any]) -> pd.DataFrame:
    """How every chunk was computed, in the order the audit reports it."""
    return frames["compute"].sort_values(["regime", "chunk"], kind="stable"
                                         ).reset_index(drop=True)


_LANDSCAPE_NAMES = tuple(f"landscape_{name}" for name in LANDSCAPE_TABLES)

#: every part of a result in the store, in the order ``save`` writes it
RESULT_TABLES: tuple[ResultTable, ...] = (
    ResultTable("table", ("data",), _write_data, _read_data),
    ResultTable("members", ("result_members",), lambda r: {"result_members": r.members},
                lambda frames, _: frames["result_members"]),
    _same("crossfit_rates", optional=True, only_with_crossfit=True),
    _same("crossfit_agreement", optional=True, only_with_crossfit=True),
    _same("hypotheses"),
    _same("regimes"),
    _same("null_strengths"),
    _same("stability", optional=True),
    _same("skipped", optional=True),
    _same("crossfit", optional=True, only_with_crossfit=True),
    ResultTable("landscape", _LANDSCAPE_NAMES,
                lambda r: r.landscape.tables() if r.landscape is not None else {},
                lambda frames, _: Landscape(**{name: frames[f"landscape_{name}"]
                                               for name in LANDSCAPE_TABLES}),
                lambda: None),
    ResultTable(None, ("alignment",), _write_alignment),
    ResultTable("split", ("split",), _write_split, _read_split),
    ResultTable("curves", ("curves",), None, _read_curves, pd.DataFrame),
    ResultTable("compute", ("compute",), None, _read_compute, pd.DataFrame),
)


def load_result(folder: str | Path) -> AuditResult:
    """The result of the finished audit stored in ``folder``, read back from its store
    alone (nothing is trained or recomputed), as its reports were written from it.

    The table holds the columns the reports read (target, attributes, covariates, id,
    group); its features are their names only, the store keeps no copy of them.
    """
    store = AuditStore(folder)
    metadata = store.read_metadata()
    if "position" not in metadata or "data" not in store.tables():
        raise ConfigError(f"Folder {str(folder)!r} holds no finished audit (its store has no "
                          "results); run the audit into it first, or name the audit's --out.")
    config = build_config(metadata["config"], source=f"the config stored in {folder}")
    frames = store.read_tables([name for part in RESULT_TABLES for name in part.names])
    fields = {part.field: _read_part(part, frames, metadata, folder)
              for part in RESULT_TABLES if part.field is not None and part.read is not None}
    embeddings = {regime: store.read_members(regime, [member_id(regime, "reference")],
                                             with_state=False).embeddings[0]
                  for regime in config.training.regimes}
    return AuditResult(
        config=config, **fields, embeddings=embeddings,
        position=Position(**metadata["position"]), lead_regime=metadata["lead_regime"],
        truth=metadata.get("truth"), versions=metadata.get("versions", {}),
        data_sha256=metadata["data_sha256"], command=metadata.get("command", ""),
        claims=read_ledger(store),
        **({"seal": {**metadata["seal"], "sealed": config.sealed}} if "seal" in metadata
           else {}))


def _read_part(part: ResultTable, frames: Frames, metadata: dict[str, Any],
               folder: str | Path) -> Any:
    """One field of a stored result: read from its tables, or what it is without them."""
    absent = [name for name in part.names if name not in frames]
    if not absent and part.read is not None:
        return part.read(frames, metadata)
    if part.missing is not None:
        return part.missing()
    raise ConfigError(f"The store in {str(folder)!r} lacks its result table {absent[0]!r}: "
                      "it was damaged or written by another tool. Rerun the audit into a "
                      "new --out (or with --overwrite).")


def _feature_choice(stored: dict[str, Any] | None) -> FeatureChoice | None:
    """The feature choice a store recorded (None for stores from before it did)."""
    if not stored:
        return None
    return FeatureChoice(tuple(stored["features"]), stored["rule"],
                         tuple(stored.get("patterns", ())), dict(stored.get("left_out", {})))
