"""The tariff's JSON Schema in the OpenAPI document against the library that checks tariffs: what
the schema allows, Tariff.from_dict takes (but for the rules it cannot state), and what it refuses,
the library refuses too."""

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from api.schemas.parking import TARIFF_EXAMPLES, TARIFF_SCHEMA
from district_engine.errors import InvalidInputError
from district_engine.parking.tariff import Tariff
from helpers import as_integers

# What the schema cannot state (as the contract fuzz's DOMAIN_RULES excuse them): (field, message part).
BEYOND_THE_SCHEMA = (("tariff.periods", "cover"), ("tariff.periods[", "the same time"),
                     ("tariff.min_cents", "must not exceed"))
_OPERATION = schemathesis.openapi.from_dict({
    "openapi": "3.1.0", "info": {"title": "tariff", "version": "1"},
    "paths": {"/tariff": {"post": {
        "requestBody": {"required": True, "content": {"application/json": {"schema": TARIFF_SCHEMA}}},
        "responses": {"200": {"description": "taken"}}}}},
})["/tariff"]["POST"]
_SETTINGS = settings(max_examples=200, derandomize=True, database=None, deadline=None,
                     suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("example", TARIFF_EXAMPLES)
def test_the_documented_examples_are_valid_and_taken(example):
    jsonschema.validate(example, TARIFF_SCHEMA)
    assert Tariff.from_dict(example).to_dict() == example


@pytest.mark.parametrize("tariff", [
    {"free_minutes": 0, "unit_minutes": 1440, "cents_per_unit": 0, "periods": None, "utc_offset_minutes": None},
    {"free_minutes": 0, "utc_offset_minutes": -720, "unit_minutes": None, "cents_per_unit": None,
     "periods": [{"start": "00:00", "end": "24:00", "unit_minutes": 1, "cents_per_unit": 0}]},
    {"free_minutes": 0, "utc_offset_minutes": 840, "min_cents": 5, "max_cents": 5,
     "periods": [{"start": "23:59", "end": "00:00", "unit_minutes": 60, "cents_per_unit": 1},
                 {"start": "00:00", "end": "23:59", "unit_minutes": 60, "cents_per_unit": 1}]},
])
def test_the_edges_the_schema_allows_are_taken(tariff):
    jsonschema.validate(tariff, TARIFF_SCHEMA)
    Tariff.from_dict(tariff)


@pytest.mark.parametrize("tariff", [
    {"free_minutes": 0, "unit_minutes": 60, "cents_per_unit": 1, "utc_offset_minutes": 480},
    {"free_minutes": 0, "unit_minutes": 60, "cents_per_unit": 1, "periods": [], "utc_offset_minutes": 480},
    {"free_minutes": 0, "utc_offset_minutes": 480, "unit_minutes": 60, "cents_per_unit": 1,
     "periods": [{"start": "00:00", "end": "24:00", "unit_minutes": 1, "cents_per_unit": 0}]},
    {"free_minutes": 0, "utc_offset_minutes": 480,
     "periods": [{"start": "24:00", "end": "24:00", "unit_minutes": 1, "cents_per_unit": 0}]},
    {"free_minutes": 0, "utc_offset_minutes": 841,
     "periods": [{"start": "00:00", "end": "24:00", "unit_minutes": 1, "cents_per_unit": 0}]},
    {"free_minutes": 0, "unit_minutes": 60, "cents_per_unit": 1, "cap": 1},
    {"free_minutes": 0, "unit_minutes": 0, "cents_per_unit": 1},
    {"free_minutes": -1, "unit_minutes": 60, "cents_per_unit": 1},
])
def test_the_edges_the_schema_refuses_are_refused(tariff):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(tariff, TARIFF_SCHEMA)
    with pytest.raises(InvalidInputError):
        Tariff.from_dict(tariff)


@given(case=_OPERATION.as_strategy(GenerationMode.POSITIVE))
@_SETTINGS
def test_the_library_takes_what_the_schema_allows(case):
    try:
        Tariff.from_dict(as_integers(case.body))
    except InvalidInputError as e:
        assert any((e.field or "").startswith(f) and part in e.message for f, part in BEYOND_THE_SCHEMA), (e.field, e.message)


@given(case=_OPERATION.as_strategy(GenerationMode.NEGATIVE))
@_SETTINGS
def test_the_library_refuses_what_the_schema_refuses(case):
    with pytest.raises(InvalidInputError):
        Tariff.from_dict(case.body)
