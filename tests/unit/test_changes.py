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
        poll.after(0, 8, block_ms=500)
    assert waits == [0.05, 0.1, 0.2, 0.4, 0.4, 0.4]
    poll.after(8, 8, block_ms=500)  # an entry per partition read: read again at once, and wait little after
    poll.after(0, 8, block_ms=500)
    assert waits[6:] == [0.05]
    poll.after(0, 8, block_ms=80)  # never longer than the caller would block
    poll.after(0, 8, block_ms=0)  # a non-blocking read does not wait
    assert waits[7:] == [0.08]


def test_a_trickle_over_many_partitions_is_read_once_enough_has_gathered():
    from district_engine.store.streams import ClusterPoll

    waits = []
    poll = ClusterPoll(first_ms=50, max_ms=400, sleep=waits.append)
    poll.after(30, 128, block_ms=500)  # 128 commands for 30 entries: let more gather
    poll.after(60, 128, block_ms=500)
    assert waits == [0.05, 0.1]
    poll.after(130, 128, block_ms=500)  # dense: at once, and the wait starts over
    poll.after(1, 1, block_ms=500)  # one partition, one entry: dense too
    poll.after(30, 128, block_ms=500)
    assert waits[2:] == [0.05]
