"""Lua scripts: one ``.lua`` file each in store/lua/ (KEYS/ARGV documented in its header),
registered once per client and run by EVALSHA, loaded again when the server answers NOSCRIPT (after
a restart, a failover or SCRIPT FLUSH)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from redis.exceptions import AskError, ClusterDownError, NoScriptError, ReadOnlyError, TryAgainError
from redis.exceptions import ConnectionError as LostConnection

from district_engine.errors import StoreError, StoreUnavailableError
from district_engine.store import keys
from district_engine.store.clients import caused_by, mapped_errors, pipeline_of
from district_engine.store.connection import is_cluster, routed

__all__ = ["Scripts"]

# What a node answers while its slot moves or fails over: retry once the slot map is fresh.
_MOVED = (AskError, ClusterDownError, TryAgainError, ReadOnlyError)


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
        script = self._script(name)
        try:
            return self._client.evalsha(script.sha, len(keys), *keys, *args)
        except StoreError as exc:
            if not caused_by(exc, NoScriptError):
                raise
        # It did not run (a restarted or failed-over server forgot it): load it, run it.
        self._client.script_load(script.script)
        return self._client.evalsha(script.sha, len(keys), *keys, *args)

    def replicated(self, name: str, keys_: list[str], args: list, replicas: int, timeout_ms: int) -> tuple[object, int]:
        """Run a script, then wait until ``replicas`` replicas have every write to its slot so far
        (at most ``timeout_ms``): (the script's result, the replicas that acknowledged)."""
        return self._then_wait(keys_[0], [(name, keys_, args)], replicas, timeout_ms)

    def confirm(self, key: str, replicas: int, timeout_ms: int) -> int:
        """How many replicas (up to ``replicas``, waiting at most ``timeout_ms``) have every write
        made so far to ``key``'s slot."""
        return self._then_wait(key, [], replicas, timeout_ms)[1]

    def _then_wait(self, key: str, calls: list, replicas: int, timeout_ms: int) -> tuple[object, int]:
        """Redis replicates asynchronously: a write no replica has acknowledged is lost if its
        primary fails over. WAIT waits for the offset of its own connection's last write, so the
        calls, a write to the slot's barrier key (which moves that offset past every earlier write
        to the slot, the barrier's own slot) and WAIT go down one connection: on a Cluster, that of
        the node serving the slot (redis-py's cluster client would send WAIT to every primary). After a
        failover the old node answers MOVED or cannot be reached: the slot map is refreshed and the
        caller gets StoreUnavailableError, to retry (what uses this is idempotent)."""
        cluster = is_cluster(self._client)
        try:
            for attempt in range(2):
                pipe = self._node_pipeline(key)
                for name, keys_, args in calls:
                    pipe.execute_command("EVALSHA", self._script(name).sha, len(keys_), *keys_, *args)
                pipe.set(keys.replication_barrier(key), b"", px=1000)
                pipe.execute_command("WAIT", replicas, timeout_ms)
                *results, acked = pipe.execute(raise_on_error=False)
                if attempt == 0 and any(caused_by(r, NoScriptError) for r in results):
                    for name, _, _ in calls:  # none of them ran: load them and run them all again
                        self._client.script_load(self._script(name).script)
                    continue
                break
        except StoreUnavailableError as exc:
            if cluster and caused_by(exc, LostConnection):
                self._refresh_slots()
            raise
        for r in (*results, acked):
            if cluster and caused_by(r, _MOVED):
                self._refresh_slots()
            if isinstance(r, Exception):
                raise r
        return (results[0] if results else None), int(acked)

    def _node_pipeline(self, key: str):
        """A pipeline down one connection to the node serving ``key``'s slot (the client's own on
        a single server)."""
        if not is_cluster(self._client):
            return self._client.pipeline(transaction=False)
        with mapped_errors():
            return pipeline_of(self._client.get_redis_connection(self._client.get_node_from_key(key)))

    def _refresh_slots(self) -> None:
        with mapped_errors():
            self._client.nodes_manager.initialize()

    def _evalsha(self, pipe, name: str, call_keys: list[str], args: list) -> None:
        # As a raw command: redis-py's cluster pipeline refuses pipe.evalsha.
        pipe.execute_command("EVALSHA", self._script(name).sha, len(call_keys), *call_keys, *args,
                             **routed(self._client, call_keys[0]))

    def pipeline(self, calls: list[tuple[str, list[str], list]], commands: list[tuple[str, tuple, dict]] = (),
                 raise_on_error: bool = True) -> list:
        """Run plain ``commands`` (method, args, kwargs) and then script calls (name, keys, args) in
        one pipeline round trip, scripts by EVALSHA; returns the scripts' results.

        redis-py's own pipelined scripts ask SCRIPT EXISTS first, a second round trip on every
        call. Here a call answered NOSCRIPT (a restarted or failed-over server) did not run: the
        scripts are loaded and only those calls run again, so nothing runs twice.
        """
        pipe = self._client.pipeline(transaction=False)
        for method, args, kwargs in commands:
            getattr(pipe, method)(*args, **kwargs)
        for call in calls:
            self._evalsha(pipe, *call)
        results = pipe.execute(raise_on_error=False)[len(commands):]
        missing = [i for i, r in enumerate(results) if caused_by(r, NoScriptError)]
        if missing:
            for script in self._registered.values():
                self._client.script_load(script.script)
            retry = self._client.pipeline(transaction=False)
            for i in missing:
                self._evalsha(retry, *calls[i])
            for i, r in zip(missing, retry.execute(raise_on_error=False)):  # raised below, if asked
                results[i] = r
        for r in results:
            if raise_on_error and isinstance(r, Exception):
                raise r
        return results
