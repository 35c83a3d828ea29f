"""The regimes an audit compares: one table that training, statistics and reports read.

Each network regime differs from ``overfit`` by the switches it names, so the regime
panel compares one kind of regularization at a time (``regularized`` combines weight
decay and early stopping). ``linear`` and ``pls`` are the no-network baselines and
``raw`` screens attributes with no embedding at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RegimeKind = Literal["network", "linear", "raw"]
#: regimes an audit can train (``raw`` screening is switched on by its own option)
TrainedRegime = Literal["overfit", "regularized", "weight_decay", "early_stopping", "dropout",
                        "batch_norm", "linear", "pls"]


@dataclass(frozen=True)
class Regime:
    """How a regime's members are built, and what its permutation null means."""

    name: str
    kind: RegimeKind
    description: str
    weight_decay: bool = False
    early_stopping: bool = False
    dropout: bool = False
    batch_norm: bool = False
    linear_embedding: Literal["pca", "pls"] | None = None

    @property
    def trains_network(self) -> bool:
        return self.kind == "network"

    @property
    def has_embedding(self) -> bool:
        return self.kind != "raw"

    @property
    def regularized(self) -> bool:
        """A network regime with at least one regularizer switched on."""
        return self.weight_decay or self.early_stopping or self.dropout or self.batch_norm

    @property
    def stops_on_training_loss(self) -> bool:
        """Trained until the training loss reaches the overfit tolerance (or max_epochs)."""
        return self.trains_network and not self.early_stopping

    @property
    def training_loss_in_eval_mode(self) -> bool:
        """Dropout and batch norm make the running training loss noisy: the stopping rule
        reads the loss of the network in evaluation mode instead."""
        return self.stops_on_training_loss and (self.dropout or self.batch_norm)


REGIMES: dict[str, Regime] = {r.name: r for r in (
    Regime("overfit", "network", "no regularization, trained on all its rows to near-zero "
           "training loss"),
    Regime("regularized", "network", "weight decay and early stopping", weight_decay=True,
           early_stopping=True),
    Regime("weight_decay", "network", "weight decay (L2) only, trained like overfit",
           weight_decay=True),
    Regime("early_stopping", "network", "early stopping on its own validation rows only",
           early_stopping=True),
    Regime("dropout", "network", "dropout only, trained like overfit", dropout=True),
    Regime("batch_norm", "network", "batch norm only, trained like overfit", batch_norm=True),
    Regime("linear", "linear", "a PCA embedding of the same width with a ridge head",
           linear_embedding="pca"),
    Regime("pls", "linear", "a PLS embedding of the same width with a ridge head",
           linear_embedding="pls"),
    Regime("raw", "raw", "each attribute screened against lifespan directly, no embedding"),
)}
#: the regime Person A's claim is about, and so the one the position is decided on
LEAD_REGIME = "overfit"
#: raw screening: attributes against lifespan with no embedding (switched on by
#: ``discovery.raw_screening``, not trained)
RAW = "raw"


def lead_regime(audited: list[str]) -> str:
    """The regime an audit's position is decided on: overfit when audited, else the
    first regime audited."""
    return LEAD_REGIME if LEAD_REGIME in audited else audited[0]


def regime(name: str) -> Regime:
    """The table entry of ``name`` (KeyError for an unknown regime)."""
    return REGIMES[name]
