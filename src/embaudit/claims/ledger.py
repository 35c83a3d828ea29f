"""Claims checked against a saved audit's sealed holdout, one after another.

The analysts' workflow: explore the axes on the discovery rows, code a new attribute by
eye (``roundness``), then check "roundness relates to lifespan in direction +" on rows
no network trained on and no one explored. Every check is appended to the audit's
claims ledger (:mod:`embaudit.store.ledger`), and each claim is decided at the level an
online FDR rule (:class:`~embaudit.hypotheses.online.OnlineRule`, LORD++) gives it
after every claim checked before it: the false discovery rate holds over the whole
sequence however the claims are split across calls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embaudit.claims.check import EXIT_CODES, ClaimVerdict, check_claims
from embaudit.claims.claim import Claim, claimed_columns
from embaudit.config import build_config
from embaudit.core.members import member_id
from embaudit.core.regimes import REGIMES
from embaudit.core.summary import Block, Summarized, Summary, counted, joined, short_repr
from embaudit.data.table import load_table
from embaudit.errors import ConfigError, DataError
from embaudit.hypotheses.online import OnlineRule
from embaudit.model import discovered_axis
from embaudit.store import AuditStore
from embaudit.store.ledger import append_claims, holdout_lifespans_sha256, read_ledger

#: the end of the error naming a claimed column that is nowhere
_NOT_A_COLUMN = ("which is neither an attribute of the audit nor a column of the new data; "
                 "check the spelling or pass the column with --data")

__all__ = ["LedgerCheck", "LedgerVerdict", "check_against_audit", "claims_ledger"]


@dataclass(frozen=True)
class LedgerVerdict(Summarized):
    """One claim as the ledger recorded it."""

    number: int  # its place in the audit's sequence of claims
    claim: str
    decision: str  # survives | fails | inconclusive
    p: float  # one-sided; with an axis, the larger of the claim's and the axis's
    level: float  # the online rule's test level for this claim
    wealth: float  # error budget left after it
    effect: float
    ci_low: float
    ci_high: float
    n: int
    seen_in_report: bool  # its attribute's holdout numbers were in the audit's reports
    rule: str
    check: ClaimVerdict

    def __post_init__(self) -> None:
        for name in ("claim", "decision", "rule"):  # plain values: a repr reads as words
            object.__setattr__(self, name, str(getattr(self, name)))
        for name in ("p", "level", "wealth", "effect", "ci_low", "ci_high"):
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("number", "n"):
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "seen_in_report", bool(self.seen_in_report))

    def __repr__(self) -> str:
        return short_repr("LedgerVerdict", number=self.number, claim=self.claim,
                          decision=self.decision, p=float(f"{self.p:.3g}"),
                          level=float(f"{self.level:.3g}"))

    def summary(self) -> Summary:
        """The ledger's decision in words, then its numbers (``str()`` is this text)."""
        check = self.check
        lines = [
            f"Claim #{self.number} of the audit's ledger, {self.claim}: {self.decision.upper()}",
            f"  effect ({check.effect_name}{', partial' if check.covariates else ''}) = "
            f"{self.effect:+.3f}, {check.confidence:.0%} CI [{self.ci_low:+.3f}, "
            f"{self.ci_high:+.3f}]; n = {self.n} holdout rows",
            f"  p = {self.p:.3g} against the level {self.level:.3g} that {self.rule} gives "
            f"claim #{self.number}; error budget left {self.wealth:.3g}",
        ]
        if check.axis is not None:
            lines.append(f"  axis {check.axis}: r(axis, attribute) = "
                         f"{check.r_axis_attribute:+.3f}, r(axis, lifespan) = "
                         f"{check.r_axis_lifespan:+.3f}, p = {check.p_embedding:.3g} (p above is "
                         "the larger of the claim's and the axis's)")
        if self.seen_in_report:
            lines.append("  note: the audit's reports showed this attribute's holdout numbers "
                         "before the claim was made, so it may have been chosen by looking at "
                         "these rows; it is not an independent confirmation")
        return Summary((Block(tuple(lines), preformatted=True),))


@dataclass(frozen=True)
class LedgerCheck(Summarized):
    """The claims of one check call, and the whole ledger after it."""

    verdicts: tuple[LedgerVerdict, ...]
    ledger: pd.DataFrame

    def summary(self) -> Summary:
        """Each claim's decision and numbers, one after another."""
        return joined([v.summary() for v in self.verdicts])

    def __repr__(self) -> str:
        return short_repr("LedgerCheck", claims=len(self.verdicts), ledger=len(self.ledger),
                          **counted([v.decision for v in self.verdicts]))

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{k: v for k, v in asdict(x).items() if k != "check"}
                             for x in self.verdicts])

    @property
    def exit_code(self) -> int:
        """0 when every claim survives, 1 when one fails, else 3 (one inconclusive)."""
        found = {v.decision for v in self.verdicts}
        return max((EXIT_CODES[v] for v in found), key=lambda c: (c == 1, c))


def claims_ledger(folder: str | Path) -> pd.DataFrame:
    """The claims ledger of the audit in ``folder``, verified (empty if none)."""
    return read_ledger(AuditStore(folder))


def check_against_audit(
    folder: str | Path,
    claims: Sequence[Claim | str],
    data: pd.DataFrame | None = None,
    *,
    regime: str | None = None,
    seed: int = 0,
) -> LedgerCheck:
    """Check ``claims`` on the holdout of the audit saved in ``folder`` and record them.

    ``data`` holds new attribute columns and the audit's id column (``row``, the row
    position, when the audit had no id); attributes the audit already has are taken from
    its store. Only holdout rows are tested. A claim with an axis (``size:+@3``) must
    also have that axis of ``regime``'s reference network (default: the lead regime)
    order attribute and lifespan as claimed on the holdout. The claims enter the ledger
    in the order given; each is decided at its online level.
    """
    store = AuditStore(folder)
    metadata = store.read_metadata()
    if "position" not in metadata:
        raise ConfigError(f"Folder {str(folder)!r} holds no finished audit; run the audit "
                          "into it first, or name the audit's --out folder.")
    config = build_config(metadata["config"], source=f"the config stored in {folder}")
    parsed = [c if isinstance(c, Claim) else Claim.parse(c) for c in claims]
    if not parsed:
        raise ConfigError("No claims given: pass at least one, e.g. --claim roundness:+")
    roles = metadata["roles"]
    holdout = _holdout_frame(store, roles, data, parsed)
    stat = config.statistics
    claimed = claimed_columns(parsed, holdout.columns, _NOT_A_COLUMN)
    table = load_table(holdout, target=roles["target"], attributes=claimed, features=[],
                       covariates=roles["covariates"], id=roles["id"], group=roles["group"],
                       event=roles["event"], target_transform=roles["target_transform"])
    _check_seal(metadata.get("seal"), table, folder)
    checked = _check(table, parsed, store, metadata, holdout["__row"].to_numpy(), regime,
                     {"min_effect": stat.min_effect, "power": stat.power,
                      "confidence": stat.confidence, "n_resamples": stat.n_resamples,
                      "seed": seed})
    rule = OnlineRule(alpha=stat.alpha)
    seen = _seen_attributes(store, config.sealed)
    with store.locked():
        ledger = read_ledger(store)
        _check_rule(ledger, rule, folder)
        new_p = [_claim_p(verdict) for verdict in checked]
        steps = rule.replay([*ledger["p"].astype(float), *new_p])[len(ledger):]
        rows = []
        for claim, verdict, p, step in zip(parsed, checked, new_p, steps, strict=True):
            decision = "survives" if step.rejected else (
                "fails" if verdict.ci_high < stat.min_effect else "inconclusive")
            rows.append({
                "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "claim": str(claim), "attribute": verdict.attribute,
                "direction": verdict.direction, "axis": verdict.axis,
                "regime": None if verdict.axis is None else _regime(metadata, regime),
                "data_sha256": _column_sha256(table, verdict.attribute), "n": verdict.n,
                "effect": verdict.effect, "ci_low": verdict.ci_low,
                "ci_high": verdict.ci_high, "p": p, "level": step.level, "wealth": step.wealth,
                "decision": decision,
                "seen_in_report": claim.attribute in seen or verdict.attribute in seen,
                "rule": rule.describe()})
        ledger = append_claims(store, rows, ledger)
    verdicts = tuple(
        LedgerVerdict(number=int(ledger["number"].iloc[len(ledger) - len(rows) + i]),
                      claim=row["claim"], decision=row["decision"], p=row["p"],
                      level=row["level"], wealth=row["wealth"], effect=row["effect"],
                      ci_low=row["ci_low"], ci_high=row["ci_high"], n=row["n"],
                      seen_in_report=row["seen_in_report"], rule=row["rule"], check=verdict)
        for i, (row, verdict) in enumerate(zip(rows, checked, strict=True)))
    return LedgerCheck(verdicts, ledger)


def _claim_p(verdict: ClaimVerdict) -> float:
    """The claim's one p-value: with an axis, the larger of the association's and the
    axis's (both must hold); untestable (not finite) counts as 1."""
    parts = [verdict.p] if verdict.axis is None else [verdict.p, verdict.p_embedding]
    return max(float(p) if np.isfinite(p) else 1.0 for p in parts)


def _holdout_frame(store: AuditStore, roles: dict[str, Any], data: pd.DataFrame | None,
                   claims: Sequence[Claim]) -> pd.DataFrame:
    """The audit's holdout rows (its stored columns), with ``data``'s new columns joined
    by id; column ``__row`` keeps each row's position in the audit."""
    read = store.read_tables(["data", "split"])
    stored, split = read["data"], read["split"]
    rows = np.sort(split.loc[split["part"] == "holdout", "row"].to_numpy())
    frame = stored.iloc[rows].reset_index(drop=True)
    frame.insert(0, "__row", rows)
    if data is None:
        return frame
    key = roles["id"] or "row"
    if key not in data.columns:
        raise DataError(f"The new columns' data has no column {key!r}: it needs the audit's "
                        + (f"id column {key!r}" if roles["id"] else
                           "row positions in a column 'row' (the audit had no id column)")
                        + " to join its values to the audit's rows.")
    clashes = [c for c in data.columns if c != key and c in stored.columns]
    if clashes:
        raise DataError(f"Column {clashes[0]!r} of the new data is already a column of the "
                        "audit's data; rename the new column (a claim names one column).")
    if data[key].duplicated().any():
        first = data.loc[data[key].duplicated(), key].iloc[0]
        raise DataError(f"Id {first!r} appears twice in column {key!r} of the new data; give "
                        "one row per object.")
    audited = pd.Series(np.arange(len(stored))) if key == "row" else stored[key]
    unknown = ~data[key].isin(set(audited))
    if unknown.any():
        raise DataError(f"Id {data.loc[unknown, key].iloc[0]!r} of the new data (column "
                        f"{key!r}; {int(unknown.sum())} such rows) is not a row of the audit; "
                        "check the ids or the file.")
    left_key = "__row" if key == "row" else key
    joined = frame.merge(data.rename(columns={"row": "__row"}) if key == "row" else data,
                         how="left", on=left_key, validate="one_to_one")
    claimed = [c for c in claimed_columns(claims, joined.columns, _NOT_A_COLUMN)
               if c in data.columns]
    for column in claimed:
        missing = joined[column].isna()
        if missing.any():
            raise DataError(f"Column {column!r} has no value for {int(missing.sum())} holdout "
                            f"rows (e.g. id {joined.loc[missing, left_key].iloc[0]!r}); code "
                            "the attribute for every holdout row, or the check would test "
                            "on the rows someone chose to code.")
    return joined


def _check(table: Any, claims: list[Claim], store: AuditStore, metadata: dict[str, Any],
           rows: np.ndarray, regime: str | None, settings: dict[str, Any]
           ) -> list[ClaimVerdict]:
    """Each claim's test on the holdout table (in claim order), with the audit's
    ``settings`` (smallest effect, power, interval); claims with an axis also get the
    axis check of the stored reference network."""
    plain = [i for i, c in enumerate(claims) if c.axis is None]
    on_axis = [i for i, c in enumerate(claims) if c.axis is not None]
    out: dict[int, ClaimVerdict] = {}
    if plain:
        report = check_claims(table, [claims[i] for i in plain], **settings)
        out.update(zip(plain, report.verdicts, strict=True))
    if on_axis:
        model = _StoredReference.load(store, metadata, _regime(metadata, regime), rows)
        report = check_claims(table, [claims[i] for i in on_axis],
                              model=model, **settings)  # type: ignore[arg-type]
        out.update(zip(on_axis, report.verdicts, strict=True))
    return [out[i] for i in range(len(claims))]


def _regime(metadata: dict[str, Any], regime: str | None) -> str:
    """The regime whose reference network carries claimed axes."""
    networks = [r for r in metadata["config"]["training"]["regimes"]
                if REGIMES[r].trains_network]
    chosen = regime or metadata.get("lead_regime")
    if chosen not in networks:
        if regime is None and networks:
            return networks[0]
        raise ConfigError(f"Regime {chosen!r} has no network in this audit (network regimes: "
                          f"{', '.join(networks) or 'none'}); name one with --regime.")
    return str(chosen)


@dataclass(frozen=True)
class _StoredReference:
    """A regime's reference network as its stored outputs on the audit's rows: what a
    claim's axis check needs (no features, no weights)."""

    regime: str
    member_id: str
    predictions: np.ndarray
    embedding: np.ndarray
    hypotheses: pd.DataFrame

    @classmethod
    def load(cls, store: AuditStore, metadata: dict[str, Any], regime: str,
             rows: np.ndarray) -> _StoredReference:
        reference = member_id(regime, "reference")
        stored = store.read_members(regime, [reference], with_state=False)
        return cls(regime, reference, stored.predictions[0][rows],
                   stored.embeddings[0][rows].astype(np.float64),
                   store.read_table("hypotheses"))

    def embed(self, table: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.predictions, self.embedding

    def untouched_rows(self, predictions: np.ndarray, embedding: np.ndarray
                       ) -> tuple[np.ndarray, str]:
        return np.arange(len(predictions)), "audit holdout"

    def discovered(self, attribute: str) -> tuple[int, float, float] | None:
        return discovered_axis(self.hypotheses, self.regime, attribute)


def _seen_attributes(store: AuditStore, sealed: bool) -> set[str]:
    """Attributes whose holdout numbers the audit's reports showed: every one when the
    reports were not sealed, else those the audit itself tested on the holdout."""
    h = store.read_table("hypotheses")
    if not sealed:
        shown = h
    else:
        tested = h["found"].fillna(False).astype(bool) | h["read"].fillna(False).astype(bool)
        shown = h[tested]
    return set(shown["attribute"]) | set(shown["source_attribute"])


def _check_seal(seal: dict[str, Any] | None, table: Any, folder: str | Path) -> None:
    """Refuse a holdout whose lifespans are not those the audit sealed."""
    if not seal:
        return
    found = holdout_lifespans_sha256(np.arange(table.n_rows), table.lifespan, table.events)
    if found != seal["holdout_lifespans_sha256"]:
        raise ConfigError(f"The holdout lifespans stored in {str(folder)!r} no longer match "
                          f"the seal the audit made on {seal['made_at']}; the store was "
                          "changed, so its holdout cannot confirm claims. Restore "
                          "audit.duckdb from a copy or run the audit again.")


def _check_rule(ledger: pd.DataFrame, rule: OnlineRule, folder: str | Path) -> None:
    """Refuse to extend a ledger kept under another rule (its levels would not add up)."""
    if len(ledger) and set(ledger["rule"]) != {rule.describe()}:
        raise ConfigError(f"The claims ledger in {str(folder)!r} was kept under "
                          f"{ledger['rule'].iloc[0]}, not {rule.describe()}; the online "
                          "levels of one sequence must come from one rule.")


def _column_sha256(table: Any, attribute: str) -> str:
    """SHA-256 of the attribute's values on the tested rows, with their ids."""
    column = next(c for c in table.attribute_columns if c.name == attribute)
    keys = table.frame[table.id].astype(str) if table.id else table.frame["__row"].astype(str)
    text = "\n".join(f"{k}\t{v!r}" for k, v in zip(keys, column.values, strict=True))
    return hashlib.sha256(text.encode()).hexdigest()
