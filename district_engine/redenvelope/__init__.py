"""Red-envelope rains: splitting a pool into packets (pure). A rain's state and its atomic grab
are in store/rains.py and its Lua scripts."""

from district_engine.redenvelope.split import check_pool, split_packets

__all__ = ["split_packets", "check_pool"]
