"""User tokens: PyJWT verifies; every way a token can be wrong is a 401 that says why."""

import base64
import json

import jwt
import pytest

from district_engine.errors import UnauthorizedError
from district_engine.identity.tokens import issue_user_token, verify_user_token

SECRET = "dets_" + "s" * 43
NOW = 1_800_000_000


def secrets_of(channel_id):
    return [SECRET] if channel_id == "ch_1" else []


def claims(**over):
    body = {"iss": "ch_1", "sub": "u-1", "aud": "district-engine", "iat": NOW, "exp": NOW + 3600} | over
    return {k: v for k, v in body.items() if v is not None}


def token(algorithm="HS256", key=SECRET, **over):
    return jwt.encode(claims(**over), key, algorithm=algorithm)


def refused(t, code="invalid_token") -> str:
    with pytest.raises(UnauthorizedError) as err:
        verify_user_token(t, secrets_of, NOW)
    assert err.value.code == code
    return err.value.message


def test_a_good_token_names_its_channel_and_user():
    assert verify_user_token(token(), secrets_of, NOW) == ("ch_1", "u-1")
    assert verify_user_token(issue_user_token("ch_1", SECRET, "u-9", NOW, 600), secrets_of, NOW + 10) == ("ch_1", "u-9")


def test_alg_none_and_other_algorithms_are_refused():
    none = jwt.encode(claims(), None, algorithm="none")
    assert "HS256" in refused(none)
    assert "HS256" in refused(token("HS512", key=SECRET * 2))
    assert "HS256" in refused(token("HS384", key=SECRET * 2))


def test_a_tampered_token_fails_its_signature():
    header, payload, sig = token().split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims(sub="u-admin")).encode()).rstrip(b"=").decode()
    assert "signature" in refused(f"{header}.{forged}.{sig}")
    assert "signature" in refused(token(key="dets_another-secret-of-enough-length-xxxxxxxx"))


def test_expired_future_and_overlong_tokens_are_refused():
    assert "exp" in refused(token(iat=NOW - 7200, exp=NOW - 3600), code="token_expired")
    assert "iat" in refused(token(iat=NOW + 3600, exp=NOW + 7200))
    assert "24 h" in refused(token(exp=NOW + 25 * 3600))


@pytest.mark.parametrize("over, says", [({"aud": "someone-else"}, "aud"), ({"iss": "ch_2"}, "iss"),
                                        ({"sub": None}, "sub"), ({"exp": None}, "exp"), ({"iat": None}, "iat"),
                                        ({"aud": None}, "aud"), ({"sub": ""}, "sub")])
def test_wrong_or_missing_claims_are_named(over, says):
    assert says in refused(token(**over))


def test_times_that_are_not_finite_numbers_are_refused():
    """NaN compares false with everything: a token with exp NaN would never expire."""
    for over in ({"exp": float("nan")}, {"iat": float("nan")}, {"exp": True}, {"iat": "1800000000"}):
        t = jwt.encode(claims(**over), SECRET, algorithm="HS256")
        with pytest.raises(UnauthorizedError):
            verify_user_token(t, secrets_of, NOW)


def test_garbage_is_refused_not_an_error():
    for t in ("eyJ.x.y", "eyJhbGciOiJIUzI1NiJ9..", "eyJ" + "A" * 40 + ".e30.", "a.b.c"):
        with pytest.raises(UnauthorizedError):
            verify_user_token(t, secrets_of, NOW)
