"""Training: the Lightning ensemble regressor and embedding extraction."""

from embaudit.training.fit import EnsembleFit, fit_ensemble
from embaudit.training.network import EnsembleMLP

__all__ = ["EnsembleFit", "EnsembleMLP", "fit_ensemble"]
