"""Reach index, matcher and geofence transitions."""

from district_engine.matching.fence import Fence, FenceTransition, fence_transition, transition, transitions_many
from district_engine.matching.index import BatchMatches, Match, ReachIndex

__all__ = ["ReachIndex", "Match", "BatchMatches", "Fence", "FenceTransition", "fence_transition", "transition", "transitions_many"]
