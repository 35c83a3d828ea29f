"""A trained member of a saved audit, loaded back to embed new rows.

The store keeps each member's weights (``members/<regime>/<chunk>.pt``, weights only),
its input standardization and target scaling, and its predictions on every audited row;
the audit's config says the architecture and which layer is the embedding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from embaudit.config import NetworkConfig
from embaudit.core.members import member_id as core_member_id
from embaudit.core.regimes import REGIMES
from embaudit.core.summary import short_repr
from embaudit.data.table import Table
from embaudit.errors import ConfigError, DataError
from embaudit.store import AuditStore

if TYPE_CHECKING:  # torch loads with the first network, not with this module
    from embaudit.training.network import EnsembleMLP

_PREDICTION_TOLERANCE = 1e-4  # relative: the same rows reproduce the stored predictions


@dataclass(frozen=True, eq=False)
class MemberModel:
    """One network of an audit: embeds rows, and knows what the audit found with it."""

    folder: Path
    regime: str
    member_id: str
    features: tuple[str, ...]
    network: EnsembleMLP = field(repr=False)
    config: NetworkConfig = field(repr=False)
    target_scale: tuple[float, float] = (0.0, 1.0)  # mean and sd of the scaled target
    stored_predictions: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    stored_embedding: np.ndarray = field(repr=False, default_factory=lambda: np.empty((0, 0)))
    holdout: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, int))
    hypotheses: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)

    def __repr__(self) -> str:
        return short_repr("MemberModel", member_id=self.member_id, regime=self.regime,
                          features=len(self.features), folder=str(self.folder))

    def embed(self, table: Table) -> tuple[np.ndarray, np.ndarray]:
        """Predictions (n,) on the transformed target scale and the embedding (n × h)."""
        import torch

        missing = [f for f in self.features if f not in table.frame.columns]
        if missing:
            raise DataError(f"Feature column {missing[0]!r}, which member {self.member_id} "
                            f"was trained on, is not in the data ({len(missing)} missing); "
                            "give the data the audit's feature columns.")
        X = torch.from_numpy(table.frame[list(self.features)].to_numpy(dtype=np.float32, copy=True))
        self.network.eval()
        with torch.no_grad():
            predicted, embedding = self.network.embed(X, self.config.embedding_layer,
                                                      self.config.pre_activation)
        mean, sd = self.target_scale
        return predicted[0].double().numpy() * sd + mean, embedding[0].double().numpy()

    def untouched_rows(self, predictions: np.ndarray, embedding: np.ndarray
                       ) -> tuple[np.ndarray, str]:
        """Rows of a table the member never trained on, and how they were found.

        A row whose prediction and embedding equal the member's stored ones for an
        audited row is that row (continuous outputs in h + 1 dimensions do not collide
        by chance): it is kept only when the audit held it out. Rows matching none are
        new. So the audit's own data, in any order or subset, is tested on its holdout
        rows only.
        """
        stored = self.stored_predictions
        order = np.argsort(stored)
        sorted_stored = stored[order]
        position = np.clip(np.searchsorted(sorted_stored, predictions), 1, len(stored) - 1)
        candidates = np.stack([position - 1, position])
        gaps = np.abs(sorted_stored[candidates] - predictions[None, :])
        nearest = order[candidates[gaps.argmin(axis=0), np.arange(len(predictions))]]
        tolerance = _PREDICTION_TOLERANCE * max(float(np.abs(stored).max()), 1.0)
        matched = (gaps.min(axis=0) <= tolerance) & np.all(
            np.abs(self.stored_embedding[nearest] - embedding)
            <= _PREDICTION_TOLERANCE * (1.0 + np.abs(embedding)), axis=1)
        held_out = np.isin(nearest, self.holdout)
        rows = np.flatnonzero(~matched | held_out)
        if not matched.any():
            return rows, "new rows"
        if matched[rows].all():
            return rows, "audit holdout"
        return rows, "audit holdout and new rows"

    def discovered(self, attribute: str) -> tuple[int, float, float] | None:
        """(axis, sign of r(axis, attribute), sign of r(axis, lifespan)) that the audit
        found for ``attribute`` in this member's regime, if it did."""
        return discovered_axis(self.hypotheses, self.regime, attribute)


def discovered_axis(hypotheses: pd.DataFrame, regime: str, attribute: str
                    ) -> tuple[int, float, float] | None:
    """The axis ``regime``'s reference carries ``attribute`` on, with the signs of
    r(axis, attribute) and r(axis, lifespan), from an audit's hypotheses (None: none)."""
    h = hypotheses
    if h.empty:
        return None
    row = h[(h["regime"] == regime) & (h["attribute"] == attribute)]
    if row.empty or pd.isna(row["axis"].iloc[0]):
        return None
    first = row.iloc[0]
    return (int(first["axis"]), float(np.sign(first["r_axis_attribute"])),
            float(np.sign(first["r_axis_lifespan"])))


def load_member(folder: str | Path, member_id: str | None = None,
                regime: str | None = None) -> MemberModel:
    """Load a member of the audit saved in ``folder``.

    Default: the reference member of ``regime``, itself by default the audit's lead
    regime (the one its position was decided on).
    """
    store = AuditStore(folder)
    metadata = store.read_metadata()
    if "config" not in metadata:
        raise ConfigError(f"{str(folder)!r} holds no finished audit (no config in its "
                          "store); run the audit first or name the folder of one.")
    config = metadata["config"]
    regimes = [r for r in config["training"]["regimes"] if REGIMES[r].trains_network]
    if member_id is not None:
        regime = store.member_regime(member_id)
        if regime is None:
            raise ConfigError(f"The audit in {str(folder)!r} holds no finished member "
                              f"{member_id!r}; name one of its members (e.g. "
                              f"{(regimes or ['overfit'])[0]}/reference).")
    if regime is None:
        lead = metadata.get("lead_regime")
        regime = lead if lead in regimes else (regimes or [None])[0]
    if regime not in regimes:
        raise ConfigError(f"Regime {regime!r} has no networks in this audit (network "
                          f"regimes: {', '.join(regimes) or 'none'}); a linear member cannot "
                          "embed rows.")
    reference = core_member_id(regime, "reference")
    member_id = member_id or reference
    if member_id != reference:
        raise ConfigError(f"Member {member_id!r} is not a reference member: claim checks "
                          f"use a regime's reference network (e.g. {reference}), whose axes "
                          "the audit's hypotheses name and whose training rows are known.")
    try:
        stored = store.read_members(regime, [member_id])
    except KeyError:
        raise ConfigError(f"The audit in {str(folder)!r} holds no finished member "
                          f"{member_id!r}; name one of its members (e.g. "
                          f"{regime}/reference).") from None
    network_config = NetworkConfig(**config["network"])
    features = tuple(metadata["roles"]["features"])
    state = stored.state
    network = _network(state, features, network_config)
    split = store.read_table("split")
    hypotheses = store.read_table("hypotheses") if "hypotheses" in store.tables() \
        else pd.DataFrame()
    return MemberModel(
        folder=Path(folder), regime=regime, member_id=member_id, features=features,
        network=network, config=network_config,
        target_scale=(float(state["target_mean"][0]), float(state["target_sd"][0])),
        stored_predictions=stored.predictions[0],
        stored_embedding=stored.embeddings[0].astype(np.float64),
        holdout=split.loc[split["part"] == "holdout", "row"].to_numpy(),
        hypotheses=hypotheses,
    )


def _network(state: dict[str, np.ndarray], features: tuple[str, ...],
             config: NetworkConfig) -> EnsembleMLP:
    """An ensemble of one holding the stored weights."""
    import torch

    from embaudit.training.network import EnsembleMLP

    network = EnsembleMLP(
        len(features), config.hidden, seeds=[0],
        input_mean=torch.from_numpy(state["input_mean"]),
        input_scale=torch.from_numpy(state["input_scale"]),
        batch_norm=any(k.startswith("norms.") for k in state),
    )
    own = network.state_dict()
    network.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(state[k])).to(v.dtype)
                             for k, v in own.items()})
    return network
