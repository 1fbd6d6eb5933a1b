import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from district_engine import InvalidInputError
from district_engine.redenvelope import split_packets
from district_engine.redenvelope.split import MAX_PACKETS, MAX_TOTAL_CENTS


@st.composite
def pools(draw):
    packets = draw(st.integers(1, 2000))
    min_cents = draw(st.integers(1, 500))
    total = draw(st.integers(packets * min_cents, min(MAX_TOTAL_CENTS, packets * min_cents * 50 + 1000)))
    return total, packets, min_cents


@settings(max_examples=300)
@given(pools(), st.sampled_from(["double_mean", "equal"]), st.integers(0, 2**32 - 1))
def test_packets_sum_exactly_and_respect_the_minimum(pool, split, seed):
    total, packets, min_cents = pool
    amounts = split_packets(total, packets, min_cents, split=split, rng=np.random.default_rng(seed))
    assert amounts.dtype == np.int64 and amounts.size == packets
    assert int(amounts.sum()) == total and int(amounts.min()) >= min_cents
    if split == "equal":
        assert int(amounts.max()) - int(amounts.min()) <= 1


@settings(max_examples=100)
@given(pools(), st.integers(0, 2**32 - 1))
def test_double_mean_draws_stay_within_twice_the_running_mean(pool, seed):
    total, packets, min_cents = pool
    amounts = split_packets(total, packets, min_cents, rng=np.random.default_rng(seed), shuffle=False)
    remaining = total
    for i, a in enumerate(amounts[:-1].tolist()):
        left = packets - i
        assert min_cents <= a <= max(min_cents, 2 * remaining // left)
        remaining -= a


def test_the_same_seed_gives_the_same_split_and_shuffling_only_reorders():
    a = split_packets(100_000, 500, 10, rng=np.random.default_rng(1))
    b = split_packets(100_000, 500, 10, rng=np.random.default_rng(1))
    raw = split_packets(100_000, 500, 10, rng=np.random.default_rng(1), shuffle=False)
    assert np.array_equal(a, b) and np.array_equal(np.sort(a), np.sort(raw)) and not np.array_equal(a, raw)


def test_a_million_packets_is_fast_enough_to_split_at_creation():
    amounts = split_packets(MAX_TOTAL_CENTS, MAX_PACKETS, 1, rng=np.random.default_rng(2))
    assert int(amounts.sum()) == MAX_TOTAL_CENTS and amounts.size == MAX_PACKETS


def test_shuffled_amounts_do_not_depend_on_grab_order():
    rng = np.random.default_rng(3)
    rains = np.array([split_packets(10_000, 20, 1, rng=rng) for _ in range(4000)])
    by_order = rains.mean(axis=0)  # the mean is 500 for every position
    assert np.all(np.abs(by_order - 500) < 25)
    unshuffled = np.array([split_packets(10_000, 20, 1, rng=rng, shuffle=False) for _ in range(4000)])
    assert unshuffled[:, -1].std() > 1.25 * unshuffled[:, 0].std()  # later draws spread wider: why the pool is shuffled


@pytest.mark.parametrize("args,field", [
    ((100, 200, 1), "total_cents"), ((0, 1, 1), "total_cents"), ((100, 0, 1), "packets"),
    ((100, 10, 0), "min_cents"), ((MAX_TOTAL_CENTS + 1, 1, 1), "total_cents"), ((10**7, MAX_PACKETS + 1, 1), "packets"),
    ((100.0, 10, 1), "total_cents"), ((True, 1, 1), "total_cents"), ((100, 10, 20), "total_cents"),
])
def test_bad_pools_name_the_field(args, field):
    with pytest.raises(InvalidInputError) as exc:
        split_packets(*args)
    assert exc.value.field == field


def test_unknown_split_lists_the_choices():
    with pytest.raises(InvalidInputError, match="double_mean, equal"):
        split_packets(100, 10, split="lottery")
