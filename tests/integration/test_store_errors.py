"""What a Redis error looks like outside store/ (store/clients.py): a Redis that cannot answer now is
StoreUnavailableError, any other Redis error StoreError, from every kind of call the engine makes (a
command, a pipeline, a script alone or pipelined, a script waited on by replicas, a blocking read),
on a single server and on a Cluster, each with redis-py's error as its cause."""

import inspect
from contextlib import contextmanager

import pytest
import redis
import redis.cluster

from district_engine.errors import StoreError, StoreUnavailableError
from district_engine.store import connect
from district_engine.store.clients import Redis
from district_engine.store.connection import is_cluster
from district_engine.store.scripts import Scripts
from helpers import free_port

CLAIM = "claim_idempotency_key"  # reads the key, then writes it: refused inside the script when out of memory


@contextmanager
def out_of_memory(client):
    """Every node refuses writes (OOM) meanwhile; reads and deletes go on."""
    nodes = {"target_nodes": client.ALL_NODES} if is_cluster(client) else {}
    client.execute_command("CONFIG", "SET", "maxmemory", "1", **nodes)
    try:
        yield
    finally:
        client.execute_command("CONFIG", "SET", "maxmemory", "0", **nodes)


def _pipelined_set(client):
    pipe = client.pipeline(transaction=False)
    pipe.get("{t}a")
    pipe.set("{t}b", "1")
    return pipe


CALLS = {
    "command": lambda c: c.incr("{t}a"),
    "pipeline": lambda c: _pipelined_set(c).execute(),
    "script": lambda c: Scripts(c)(CLAIM, ["{t}idem"], ["fp", "token", 60_000]),
    "pipelined script": lambda c: Scripts(c).pipeline([(CLAIM, ["{t}idem"], ["fp", "token", 60_000])]),
    "script waited on by replicas": lambda c: Scripts(c).replicated(CLAIM, ["{t}idem"], ["fp", "token", 60_000], 0, 10),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_a_refusal_is_store_unavailable(redis_client, call):
    with out_of_memory(redis_client), pytest.raises(StoreUnavailableError) as raised:
        call(redis_client)
    assert isinstance(raised.value.__cause__, redis.ResponseError)
    assert "OOM" in str(raised.value.__cause__) or isinstance(raised.value.__cause__, redis.exceptions.OutOfMemoryError)


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_any_other_redis_error_is_a_store_error(redis_client, call):
    redis_client.rpush("{t}a", "x")  # lists where the calls expect a string or a hash: WRONGTYPE
    redis_client.rpush("{t}idem", "x")
    with pytest.raises(StoreError) as raised:
        call(redis_client)
    assert isinstance(raised.value.__cause__, redis.ResponseError) and "WRONGTYPE" in str(raised.value)


def test_a_pipeline_that_does_not_raise_gives_the_engine_s_errors(redis_client):
    redis_client.rpush("{t}a", "x")
    pipe = redis_client.pipeline(transaction=False)
    pipe.get("{t}a")
    pipe.get("{t}b")
    wrong, fine = pipe.execute(raise_on_error=False)
    assert isinstance(wrong, StoreError) and isinstance(wrong.__cause__, redis.ResponseError) and fine is None
    redis_client.script_flush()  # also the calls run again after NOSCRIPT give their error, not raise it
    with out_of_memory(redis_client):
        refused, = Scripts(redis_client).pipeline([(CLAIM, ["{t}idem"], ["fp", "token", 60_000])], raise_on_error=False)
    assert isinstance(refused, StoreUnavailableError)


def test_a_blocking_read_past_the_client_s_timeout_is_store_unavailable(redis_url):
    client = connect(redis_url, timeout_s=0.3)
    try:
        with pytest.raises(StoreUnavailableError) as raised:  # BLOCK longer than the socket timeout
            client.execute_command("XREAD", "BLOCK", 2000, "STREAMS", "{t}s", "$")
        assert isinstance(raised.value.__cause__, redis.TimeoutError)
    finally:
        client.close()


@pytest.mark.parametrize("call", [lambda c: c.get("k"), lambda c: _pipelined_set(c).execute()],
                         ids=["command", "pipeline"])
def test_a_redis_that_is_not_there_is_store_unavailable(call):
    client = Redis(port=free_port(), socket_connect_timeout=0.5)
    with pytest.raises(StoreUnavailableError) as raised:
        call(client)
    assert isinstance(raised.value.__cause__, redis.ConnectionError)
    with pytest.raises(StoreUnavailableError):
        connect(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.5)


@pytest.mark.parametrize("cls, implementation", [(redis.Redis, "_execute_command"),
                                                 (redis.cluster.RedisCluster, "_internal_execute_command")])
def test_redis_py_s_execute_command_only_calls_what_the_mapping_calls(cls, implementation):
    """store/clients.py calls the implementation directly; a redis-py that does more in
    execute_command must be looked at before it is used."""
    body = inspect.getsource(cls.execute_command).strip().splitlines()[-1].strip()
    assert body.startswith(f"return self.{implementation}(*args, **")
