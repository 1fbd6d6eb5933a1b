"""Channel-scoped user ids: made in one place, and taken apart exactly, whatever the user id holds."""

import pytest
from hypothesis import given, strategies as st

from helpers import acceptable_text
from district_engine.errors import ForbiddenError, InvalidInputError
from district_engine.identity import Kind, Principal, channel_of, scoped_user, unscoped_user

channels = st.from_regex(r"ch_[0-9a-f]{16}", fullmatch=True)
users = acceptable_text(max_size=128)


@given(channel=channels, user=users)
def test_a_scoped_id_gives_back_its_channel_and_user(channel, user):
    scoped = scoped_user(channel, user)
    assert channel_of(scoped) == channel and unscoped_user(scoped) == user


@given(a=channels, b=channels, user=users)
def test_two_channels_same_user_id_are_two_users(a, b, user):
    assert (scoped_user(a, user) == scoped_user(b, user)) == (a == b)


def test_a_channel_names_its_user_and_a_token_is_its_own():
    channel = Principal(Kind.CHANNEL, "ch_1")
    assert channel.user("u-1") == "ch_1:u-1"
    with pytest.raises(InvalidInputError) as err:
        channel.user(None)
    assert err.value.field == "user_id"
    device = Principal(Kind.USER, "ch_1", "u-1")
    assert device.user(None) == device.user("u-1") == "ch_1:u-1"
    with pytest.raises(ForbiddenError) as err:
        device.user("u-2")
    assert err.value.code == "wrong_user"
    with pytest.raises(ForbiddenError):
        Principal(Kind.OPERATOR, "op_1").user("u-1")
    with pytest.raises(InvalidInputError):
        scoped_user("ch_1", "x" * 129)
    for odd in ("u\ud800", "u\x00", "u\x1b[31m", "line\nbreak"):  # a lone surrogate, controls
        with pytest.raises(InvalidInputError) as err:
            scoped_user("ch_1", odd)
        assert err.value.field == "user_id"
