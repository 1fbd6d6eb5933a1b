"""Change-stream ids: pure helpers."""


def test_stream_ids_compare_as_numbers_not_text():
    from district_engine.store.changes import newer

    assert newer("1700000000010-0", "1700000000009-5") and newer("5-10", "5-9") and not newer("5-9", "5-9")


def test_a_replication_barrier_shares_its_keys_slot():
    from redis.crc import key_slot

    from district_engine.store import keys

    for key in [keys.rain_keys("r1")["meta"], keys.lot_keys("sanlitun-south-p")["meta"], keys.lot_session("l", "s1"),
                "plain-key"]:
        assert key_slot(keys.replication_barrier(key).encode()) == key_slot(key.encode())
