"""Schemathesis against the served app, with all its checks: the OpenAPI document must state what
the server does. Every operation is fuzzed as each kind of caller (no credential, an operator key,
a channel key, a user token, the admin token), a bounded and derandomized number of examples each;
any failure fails the suite.

The app runs under a real server (one per module, on the session's single Redis): schemathesis'
in-process ASGI client would keep every app it starts alive for the rest of the process.
"""

import json
import re
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import allow_header_conformance, positive_data_acceptance

from api.main import create_app
from conftest import ADMIN, SANLITUN, bearer, make_channel, make_operator, user_token
from district_engine.settings import Settings
from helpers import serving

MAX_EXAMPLES = 6
CALLERS = ("none", "operator", "channel", "user", "admin")


@pytest.fixture(scope="module")
def served(single_redis_url):
    """(base URL, {caller: headers}) of the app on a fresh Redis, with one operator that owns
    Sanlitun, one channel and a token of the channel's user u-1."""
    import httpx

    from district_engine.store import connect

    client = connect(single_redis_url)
    client.flushall()
    # Fuzzing calls far faster than a console: the operators' call limit must not answer 429.
    settings_ = Settings(admin_token=ADMIN, worker=False, operator_calls_per_minute=10**9)
    with serving(create_app(settings_, client=client)) as url, httpx.Client(base_url=url) as http:
        operator = make_operator(http)
        assert http.post("/v1/districts", json=SANLITUN.to_geojson(), headers=bearer(operator)).status_code == 201
        channel = make_channel(http)
        callers = {"none": {}, "operator": bearer(operator), "channel": bearer(channel["api_key"]),
                   "user": bearer(user_token(channel, "u-1")), "admin": bearer(ADMIN)}
        yield url, callers
    client.flushall()
    client.close()


# The document of the app, built without serving it: one test per operation.
DOCUMENT = create_app(Settings(admin_token=ADMIN, worker=False)).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)
# The server ignores query parameters it does not know (as HTTP servers do) and the document does not
# forbid them: a request that adds some is no negative case.
schema.config.generation.update(allow_extra_parameters=False)


# Rules a JSON Schema cannot state: they depend on the clock, on who calls, or on what a name
# resolves to. A schema-valid request refused by one of them is no contract failure:
# (field, the error's code, a part of its message).
DOMAIN_RULES = (
    ("at", "invalid_input", "server"),  # a time too far ahead of the server's clock
    ("at", "invalid_input", "within the last"),  # a position older than the matcher keeps
    ("user_id", "invalid_input", "required with a channel key"),  # a channel names its user
    ("url", "blocked_address", ""),  # a webhook host whose addresses are not public
)


def by_domain_rule(response) -> bool:
    if response.status_code != 422:
        return False
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return any(error.get("field") == field and error.get("code") == code and part in error.get("message", "")
               for field, code, part in DOMAIN_RULES)


def header_off_pattern(case) -> bool:
    """A header that does not match its documented pattern: schemathesis' coverage phase labels
    some such values (``Last-Event-ID: 0``) positive."""
    params = DOCUMENT["paths"][case.operation.path].get(case.method.lower(), {}).get("parameters", [])
    for param in params:
        value = (case.headers or {}).get(param["name"])
        pattern = param.get("schema", {}).get("pattern")
        if param["in"] == "header" and isinstance(value, str) and pattern and not re.search(pattern, value):
            return True
    return False


def positive_data_accepted(ctx, response, case):
    """Schemathesis' positive_data_acceptance, but for the refusals of DOMAIN_RULES."""
    if by_domain_rule(response) or header_off_pattern(case):
        return None
    return positive_data_acceptance(ctx, response, case)


def allow_header_conforms(ctx, response, case):
    """Schemathesis' allow_header_conformance, but at a custom method's path: `/v1/guides/x:deactivate`
    is also `/v1/guides/{guide_id}` with the id "x:deactivate" (the router's view, which a 405's
    Allow follows: tests/api/test_methods.py), so Allow names that route's methods too."""
    if "}:" in case.operation.path:
        return None
    return allow_header_conformance(ctx, response, case)


def fresh_idempotency_key(case) -> None:
    """A create's Idempotency-Key is one request's: a generated key that repeats across different
    bodies is answered 422 (idempotency_key_reused), rightly. A valid generated key is replaced by a
    new UUID; an invalid one is kept, for the server to refuse."""
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and 0 < len(key) <= 255 and key.isascii() and key.isprintable():
        case.headers["Idempotency-Key"] = str(uuid.uuid4())


@pytest.mark.parametrize("caller", CALLERS)
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_its_openapi_document_says(case, caller, served):
    url, callers = served
    fresh_idempotency_key(case)
    headers = dict(callers[caller])
    if case.headers and "Authorization" in case.headers:
        headers.pop("Authorization", None)  # a generated Authorization (a negative case) is sent as it is
    case.call_and_validate(base_url=url, headers=headers,
                           excluded_checks=[positive_data_acceptance, allow_header_conformance],
                           additional_checks=[positive_data_accepted, allow_header_conforms])
