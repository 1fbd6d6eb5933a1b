"""Standard Webhooks signing: the spec's published vector, rotation, tolerance, tampering."""

import pytest
from hypothesis import given, strategies as st

from district_engine.errors import UnauthorizedError
from district_engine.signing import headers, new_secret, sign, verify

# Published by Standard Webhooks (and Svix) for checking an implementation.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID, TS, BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_published_test_vector():
    assert sign(SECRET, MSG_ID, TS, BODY) == EXPECTED
    assert verify([SECRET], MSG_ID, str(TS), EXPECTED, BODY, now_s=TS) == TS


def test_several_signatures_and_several_secrets_as_during_a_rotation():
    old, new = new_secret(), new_secret()
    signed_with_old = sign(old, MSG_ID, TS, BODY)
    assert verify([new, old], MSG_ID, str(TS), f"v1,bm9wZQ== {signed_with_old}", BODY, now_s=TS + 10) == TS
    with pytest.raises(UnauthorizedError):
        verify([new], MSG_ID, str(TS), signed_with_old, BODY, now_s=TS)


@pytest.mark.parametrize("msg_id, ts, sig, body, now, why", [
    (MSG_ID, str(TS), EXPECTED, BODY + b" ", TS, "body changed"),
    ("msg_other", str(TS), EXPECTED, BODY, TS, "id changed"),
    (MSG_ID, str(TS + 1), EXPECTED, BODY, TS, "timestamp changed"),
    (MSG_ID, str(TS), EXPECTED, BODY, TS + 301, "too old"),
    (MSG_ID, str(TS), EXPECTED, BODY, TS - 301, "from the future"),
    (MSG_ID, "yesterday", EXPECTED, BODY, TS, "not a number"),
    (None, str(TS), EXPECTED, BODY, TS, "no id"),
    (MSG_ID, str(TS), None, BODY, TS, "no signature"),
    (MSG_ID, str(TS), EXPECTED.replace("v1,", "v2,"), BODY, TS, "unknown version"),
])
def test_what_is_refused(msg_id, ts, sig, body, now, why):
    with pytest.raises(UnauthorizedError) as e:
        verify([SECRET], msg_id, ts, sig, body, now_s=now)
    assert e.value.code == "bad_signature", why


@given(st.binary(max_size=200), st.text(min_size=1, max_size=40).filter(lambda s: "." not in s))
def test_what_is_signed_verifies(body, msg_id):
    secret = new_secret()
    h = headers(secret, msg_id, TS, body)
    assert verify([secret], h["webhook-id"], h["webhook-timestamp"], h["webhook-signature"], body, now_s=TS) == TS
