"""Lua scripts: one ``.lua`` file each in store/lua/ (KEYS/ARGV documented in its header),
registered once per client and run by EVALSHA; redis-py's Script loads a script again when the
server answers NOSCRIPT (after a restart, a failover or SCRIPT FLUSH)."""

from __future__ import annotations

from functools import cache
from importlib import resources

import redis

from district_engine.errors import StoreUnavailableError

__all__ = ["Scripts"]


@cache
def _source(name: str) -> str:
    return resources.files("district_engine.store").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


class Scripts:
    """The scripts of one client, by file name: ``scripts("put_district", keys=[...], args=[...])``."""

    def __init__(self, client):
        self._client = client
        self._registered = {}

    def _script(self, name: str):
        script = self._registered.get(name)
        if script is None:
            script = self._registered[name] = self._client.register_script(_source(name))
        return script

    def __call__(self, name: str, keys: list[str], args: list) -> object:
        try:
            return self._script(name)(keys=keys, args=args)
        except redis.ConnectionError as exc:
            raise StoreUnavailableError(f"Redis unavailable: {exc}") from exc

    def queue(self, pipe, name: str, keys: list[str], args: list) -> None:
        """Add a script call to a pipeline (the pipeline loads the script first if the server lacks it)."""
        self._script(name)(keys=keys, args=args, client=pipe)
