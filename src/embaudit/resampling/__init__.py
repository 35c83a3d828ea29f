"""Resampling: the discovery/holdout split, the members planned on it, the options that
resolve them, and the alignment of member embeddings."""

from embaudit.resampling.alignment import OrthogonalProcrustes
from embaudit.resampling.crossfit import crossfit_splits, plan_crossfit
from embaudit.resampling.plans import discovery_holdout_split, plan_members

__all__ = ["OrthogonalProcrustes", "crossfit_splits", "discovery_holdout_split",
           "plan_crossfit", "plan_members"]
