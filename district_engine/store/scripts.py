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

    def pipeline(self, calls: list[tuple[str, list[str], list]], commands: list[tuple[str, tuple, dict]] = ()) -> list:
        """Run plain ``commands`` (method, args, kwargs) and then script calls (name, keys, args) in
        one pipeline round trip, scripts by EVALSHA; returns the scripts' results.

        redis-py's own pipelined scripts ask SCRIPT EXISTS first, a second round trip on every
        call. Here a call answered NOSCRIPT (a restarted or failed-over server) did not run: the
        scripts are loaded and only those calls run again, so nothing runs twice.
        """
        try:
            pipe = self._client.pipeline(transaction=False)
            for method, args, kwargs in commands:
                getattr(pipe, method)(*args, **kwargs)
            for name, keys, args in calls:
                # As a raw command: redis-py's cluster pipeline refuses pipe.evalsha, and routes
                # this one by its keys like any other.
                pipe.execute_command("EVALSHA", self._script(name).sha, len(keys), *keys, *args)
            results = pipe.execute(raise_on_error=False)[len(commands):]
            missing = [i for i, r in enumerate(results) if isinstance(r, redis.exceptions.NoScriptError)]
            if missing:
                for script in self._registered.values():
                    self._client.script_load(script.script)
                retry = self._client.pipeline(transaction=False)
                for i in missing:
                    name, keys, args = calls[i]
                    retry.execute_command("EVALSHA", self._script(name).sha, len(keys), *keys, *args)
                for i, r in zip(missing, retry.execute()):
                    results[i] = r
        except redis.ConnectionError as exc:
            raise StoreUnavailableError(f"Redis unavailable: {exc}") from exc
        for r in results:
            if isinstance(r, Exception):
                raise r
        return results
