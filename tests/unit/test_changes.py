"""Change-stream ids: pure helpers."""


def test_stream_ids_compare_as_numbers_not_text():
    from district_engine.store.changes import newer

    assert newer("1700000000010-0", "1700000000009-5") and newer("5-10", "5-9") and not newer("5-9", "5-9")
