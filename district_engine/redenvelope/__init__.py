"""Red-envelope rains: splitting a pool into packets (pure); the rain service comes with issue 5."""

from district_engine.redenvelope.split import check_pool, split_packets

__all__ = ["split_packets", "check_pool"]
