"""Training: the ensemble regressor and its Lightning Fabric loop, regimes, embedding
extraction, diagnostics."""

from embaudit.training.diagnostics import MEMBER_COLUMNS, effective_rank
from embaudit.training.fit import EnsembleFit, fit_ensemble, members_per_chunk
from embaudit.training.network import EnsembleMLP

__all__ = ["MEMBER_COLUMNS", "EnsembleFit", "EnsembleMLP", "effective_rank", "fit_ensemble",
           "members_per_chunk"]
