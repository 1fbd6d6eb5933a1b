"""Streams: pure helpers (change-stream ids, replication barriers, how a Cluster polls)."""


def test_stream_ids_compare_as_numbers_not_text():
    from district_engine.store.changes import newer

    assert newer("1700000000010-0", "1700000000009-5") and newer("5-10", "5-9") and not newer("5-9", "5-9")


def test_a_replication_barrier_shares_its_keys_slot():
    from redis.crc import key_slot

    from district_engine.store import keys

    for key in [keys.rain_keys("r1")["meta"], keys.lot_keys("sanlitun-south-p")["meta"], keys.lot_session("l", "s1"),
                "plain-key"]:
        assert key_slot(keys.replication_barrier(key).encode()) == key_slot(key.encode())


def test_an_idle_cluster_stream_is_polled_less_and_less_and_a_busy_one_at_once():
    from district_engine.store.streams import ClusterPoll

    waits = []
    poll = ClusterPoll(first_ms=50, max_ms=400, sleep=waits.append)
    for _ in range(6):
        poll.after(False, block_ms=500)
    assert waits == [0.05, 0.1, 0.2, 0.4, 0.4, 0.4]
    poll.after(True, block_ms=500)  # entries: read again at once, and wait little after the next empty read
    poll.after(False, block_ms=500)
    assert waits[6:] == [0.05]
    poll.after(False, block_ms=80)  # never longer than the caller would block
    poll.after(False, block_ms=0)  # a non-blocking read does not wait
    assert waits[7:] == [0.08]
