"""Resampling plans and alignment of member embeddings."""

from embaudit.resampling.alignment import OrthogonalProcrustes
from embaudit.resampling.plans import MemberSpec, Split, discovery_holdout_split, plan_members

__all__ = ["MemberSpec", "OrthogonalProcrustes", "Split", "discovery_holdout_split",
           "plan_members"]
