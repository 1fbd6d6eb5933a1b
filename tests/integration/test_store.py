"""The store against a real Redis: the embedded server, connections, Lua scripts, districts."""

import socket

import numpy as np
import pytest

from district_engine import ConflictError, District, NotFoundError, StoreUnavailableError, load_demo_districts
from district_engine.settings import Settings
from district_engine.store import DistrictStore, EmbeddedRedis, connect, keys, open_redis
from district_engine.store.scripts import Scripts
from helpers import SANLITUN, feature, random_footprint


def test_embedded_server_keeps_its_data_across_a_restart(tmp_path):
    with EmbeddedRedis(tmp_path, appendfsync="always") as server:
        connect(server.url).set("k", "v")
    with EmbeddedRedis(tmp_path) as server:  # same data directory, new process
        assert connect(server.url).get("k") == b"v"
    assert (tmp_path / "appendonly.aof").exists() or any(tmp_path.rglob("*.aof"))


def test_open_redis_without_a_url_runs_an_embedded_server_and_stops_it(tmp_path):
    with open_redis(Settings(redis_url=None, data_dir=tmp_path / "data")) as client:
        assert client.ping()
        port = client.connection_pool.connection_kwargs["port"]
    with pytest.raises(ConnectionRefusedError):  # the server is gone, not just the client
        socket.create_connection(("127.0.0.1", port), timeout=0.5)


def test_open_redis_with_a_url_uses_it(redis_url, redis_client):
    redis_client.set("marker", "1")
    with open_redis(Settings(redis_url=redis_url)) as client:
        assert client.get("marker") == b"1"


def test_unreachable_redis_is_a_typed_error():
    with pytest.raises(StoreUnavailableError):
        connect("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)


def test_scripts_survive_a_script_flush(redis_client):
    scripts = Scripts(redis_client)
    key = keys.district("x")
    assert scripts("put_district", [key], ["op1", "{}", "t"]) == 1
    redis_client.script_flush()  # as after a restart or a failover: the server forgot the SHA
    assert scripts("put_district", [key], ["op1", "{}", "t2"]) == 2


def _district(i=0, lat=SANLITUN[0], lng=SANLITUN[1]):
    return District.from_geojson(feature(f"d{i}", random_footprint(np.random.default_rng(i), lat, lng, 150.0)))


def test_put_get_all_delete_round_trip(redis_client):
    store = DistrictStore(redis_client)
    demo = load_demo_districts()
    for d in demo:
        assert store.put(d, "demo-operator") is True
    assert store.put(demo[0], "demo-operator") is False  # replaced
    got = store.get(demo[0].id)
    assert got.owner == "demo-operator" and got.district.geometry.equals(demo[0].geometry)
    assert got.district.name_zh == demo[0].name_zh and got.created_at <= got.updated_at
    assert sorted(s.district.id for s in store.all()) == sorted(d.id for d in demo)
    store.delete(demo[0].id, "demo-operator")
    with pytest.raises(NotFoundError):
        store.get(demo[0].id)
    assert len(store.all()) == len(demo) - 1


def test_an_operator_cannot_see_change_or_delete_anothers_district(redis_client):
    store = DistrictStore(redis_client)
    d = _district()
    store.put(d, "alice")
    with pytest.raises(NotFoundError):
        store.get(d.id, owner="bob")
    with pytest.raises(NotFoundError):
        store.delete(d.id, "bob")
    with pytest.raises(ConflictError) as exc:
        store.put(_district(), "bob")
    assert exc.value.code == "district_id_taken"
    assert store.get(d.id, owner="alice").district.geometry.equals(d.geometry)  # unchanged


def test_every_change_is_signalled_on_the_changes_stream(redis_client):
    store = DistrictStore(redis_client)
    store.put(_district(1), "alice")
    store.put(_district(2), "alice")
    store.delete("d1", "alice")
    signals = [(f[b"id"].decode(), f[b"op"].decode()) for _, f in redis_client.xrange(keys.changes())]
    assert signals == [("d1", "put"), ("d2", "put"), ("d1", "delete")]


def test_district_keys_carry_a_hash_tag_per_entity():
    assert keys.district("sanlitun-taikoo-li") == "district:{sanlitun-taikoo-li}"




def test_put_many_stores_and_signals_everything_but_anothers_ids(redis_client):
    from district_engine.errors import ConflictError
    from district_engine.store import changes
    from district_engine.store.districts import DistrictStore
    from helpers import feature, square
    from district_engine.districts.model import District
    import shapely

    store = DistrictStore(redis_client)

    def make(i):
        return District.from_geojson(feature(f"bulk-{i}", shapely.geometry.shape(square(30.25, 120.16 + i * 0.01, 50))))

    store.put(make(3), "other")
    before = changes.last_id(redis_client)
    with pytest.raises(ConflictError) as e:
        store.put_many([make(i) for i in range(2500)], "me", chunk=1000)
    assert "bulk-3" in e.value.message
    mine = {s.district.id for s in store.all() if s.owner == "me"}
    assert mine == {f"bulk-{i}" for i in range(2500)} - {"bulk-3"}
    signalled = {c.id for c in changes.read_after(redis_client, before)}
    assert signalled == mine
    assert store.put_many([make(1)], "me") == 0  # a replacement is not new
