"""What the OpenAPI document states beyond what FastAPI derives from the routes: the 400 of a body
that is not JSON, the 429 of an operator past its calls, the text rule of ids in paths, the bodies
of the routes that read their own (a gate's event) or take any JSON (a district's Feature), an
example of each kind of campaign, the links from what a create answers to the routes that
take its id (the stateful contract test follows them), and the HEAD served wherever GET is. The
routers stay as they are."""

from __future__ import annotations

import copy

from fastapi import FastAPI

from api.schemas.core import CAMPAIGN_EXAMPLES, DISTRICT_FEATURE, TEXT_PATTERN
from api.schemas.parking import GateEventIn
from district_engine.store.streams import STREAM_ID

__all__ = ["document", "LINKS"]

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
_INVALID_JSON = {"description": "`invalid_json`: the body is not JSON (or not UTF-8)", "content": _ERROR}
_RATE_LIMITED = {"description": "`rate_limited`: past the operator's calls per minute; see Retry-After",
                 "content": _ERROR}
_METRICS_TOKEN = {"type": "http", "scheme": "bearer",
                  "description": "The deployment's DE_METRICS_TOKEN, when it is set (else /metrics is public)."}

# Query parameters the library checks beyond what their route declares: a page's cursor is an
# entry id of a Redis stream.
STREAM_ID_PATTERN = f"^{STREAM_ID.pattern}$"
_PARAMETER_PATTERNS = {("GET /v1/push-endpoints/{endpoint_id}/dead-letters", "cursor"): STREAM_ID_PATTERN,
                       ("GET /v1/parking/lots/{lot_id}/review", "before"): STREAM_ID_PATTERN}

_ID = "$response.body#/id"
# (source operation, its answers, target operation, what the target takes from the answer: its
# parameters as "in.name", and "body.<field>" for fields of its request body).
LINKS: tuple[tuple[str, tuple[str, ...], str, dict[str, str]], ...] = tuple(
    [("POST /v1/districts", ("201", "200"), target, values) for target, values in (
        ("GET /v1/districts/{district_id}", {"path.district_id": _ID}),
        ("GET /v1/districts/{district_id}/cells", {"path.district_id": _ID}),
        ("GET /v1/districts/{district_id}/density", {"path.district_id": _ID}),
        ("DELETE /v1/districts/{district_id}", {"path.district_id": _ID}),
        ("GET /v1/campaigns", {"query.district_id": _ID}),
        ("POST /v1/campaigns", {"body.district_id": _ID}),
        ("POST /v1/parking/lots", {"body.district_id": _ID}),
        ("GET /v1/guides", {"query.district_id": _ID}),
        ("POST /v1/guides", {"body.district_id": _ID}),
    )]
    + [("POST /v1/campaigns", ("201",), f"{target}", {"path.campaign_id": _ID}) for target in (
        "GET /v1/campaigns/{campaign_id}", "PATCH /v1/campaigns/{campaign_id}", "DELETE /v1/campaigns/{campaign_id}",
        "POST /v1/campaigns/{campaign_id}/end", "GET /v1/campaigns/{campaign_id}/stats",
        "GET /v1/red-envelopes/{campaign_id}", "POST /v1/red-envelopes/{campaign_id}/grab")]
    + [("POST /v1/parking/lots", ("201",), target, {"path.lot_id": _ID}) for target in (
        "GET /v1/parking/lots/{lot_id}", "POST /v1/parking/lots/{lot_id}/rotate-secret",
        "GET /v1/parking/lots/{lot_id}/review", "POST /v1/parking/lots/{lot_id}/gate-events")]
    + [("POST /v1/parking/lots", ("201",), "POST /v1/campaigns",
        {"body.district_id": "$response.body#/district_id", "body.lot_id": _ID})]
    + [("POST /v1/parking/lots/{lot_id}/gate-events", ("200",), target,
        {"path.session_id": "$response.body#/session_id"}) for target in (
        "GET /v1/parking/sessions/{session_id}", "POST /v1/parking/sessions/{session_id}/resolution",
        "POST /v1/parking/sessions/{session_id}/validations", "POST /v1/parking/sessions/{session_id}/paid-at-gate")]
    + [("POST /v1/push-endpoints", ("201",), target, {"path.endpoint_id": _ID}) for target in (
        "GET /v1/push-endpoints/{endpoint_id}", "DELETE /v1/push-endpoints/{endpoint_id}",
        "POST /v1/push-endpoints/{endpoint_id}:enable", "GET /v1/push-endpoints/{endpoint_id}/dead-letters",
        "POST /v1/push-endpoints/{endpoint_id}/dead-letters:replay")]
    + [("POST /v1/guides", ("201",), target, {"path.guide_id": _ID}) for target in (
        "GET /v1/guides/{guide_id}", "PATCH /v1/guides/{guide_id}", "POST /v1/guides/{guide_id}:deactivate",
        "POST /v1/guides/{guide_id}/members", "GET /v1/guides/{guide_id}/members",
        "GET /v1/guides/{guide_id}/commissions")]
    + [("POST /v1/guides", ("201",), "POST /v1/orders", {"body.district_id": "$response.body#/district_id"}),
       ("POST /v1/orders", ("201",), "POST /v1/orders/{order_id}/refunds",
        {"path.order_id": "$response.body#/order_id"}),
       ("POST /v1/operators", ("201",), "POST /v1/operators/{operator_id}/keys", {"path.operator_id": _ID}),
       ("POST /v1/channels", ("201",), "POST /v1/channels/{channel_id}/keys", {"path.channel_id": _ID}),
       ("POST /v1/channels", ("201",), "POST /v1/guides/{guide_id}/members", {"body.channel_id": _ID}),
       ("POST /v1/parking/plates", ("201",), "DELETE /v1/parking/plates/{plate}",
        {"path.plate": "$response.body#/plate", "query.user_id": "$response.body#/user_id"})]
)


def _operation(doc: dict, name: str) -> dict:
    method, path = name.split(" ", 1)
    return doc["paths"][path][method.lower()]


def _link_name(op: dict) -> str:
    # FastAPI's operationId is the endpoint's name, then the path and method: the name reads best.
    return op["operationId"].split("_v1_")[0]


def _add_links(doc: dict) -> None:
    for source, statuses, target, values in LINKS:
        target_op = _operation(doc, target)
        link: dict = {"operationId": target_op["operationId"]}
        parameters = {k: v for k, v in values.items() if not k.startswith("body.")}
        body = {k.removeprefix("body."): v for k, v in values.items() if k.startswith("body.")}
        if parameters:
            link["parameters"] = parameters
        if body:
            link["requestBody"] = body
        for status in statuses:
            response = _operation(doc, source)["responses"][status]
            response.setdefault("links", {})[_link_name(target_op)] = link


def _add_patterns(doc: dict) -> None:
    for (operation, name), pattern in _PARAMETER_PATTERNS.items():
        param = next(p for p in _operation(doc, operation)["parameters"] if p["name"] == name)
        for option in param["schema"].get("anyOf", [param["schema"]]):
            if option.get("type") == "string":
                option["pattern"] = pattern


def _add_bodies(doc: dict) -> None:
    """The bodies FastAPI cannot see: a gate's event (the route reads the raw bytes, which its
    signature covers) and a district (a GeoJSON Feature, taken as any JSON and checked by the
    library); the examples of POST /v1/campaigns, one per kind."""
    schemas = doc["components"]["schemas"]
    schemas["GateEventIn"] = GateEventIn.model_json_schema()
    schemas["DistrictFeature"] = DISTRICT_FEATURE
    gate = _operation(doc, "POST /v1/parking/lots/{lot_id}/gate-events")
    gate["requestBody"] = {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/GateEventIn"}}}}
    district = _operation(doc, "POST /v1/districts")["requestBody"]["content"]["application/json"]
    district["schema"] = {"$ref": "#/components/schemas/DistrictFeature"}
    campaign = _operation(doc, "POST /v1/campaigns")["requestBody"]["content"]["application/json"]
    campaign["examples"] = CAMPAIGN_EXAMPLES


def _add_heads(doc: dict) -> None:
    """A HEAD beside every GET (api/middleware.py answers it): the GET's parameters, security and
    statuses, each answer's headers without its content."""
    for path in doc["paths"].values():
        if "get" not in path:
            continue
        head = copy.deepcopy(path["get"])
        head["operationId"] = head["operationId"].removesuffix("_get") + "_head"
        head["summary"] = f"{head['summary']} (headers only)"  # FastAPI gives every operation one
        head["description"] = "The GET's status and headers, without its body."
        for response in head["responses"].values():
            response.pop("content", None)
            response.pop("links", None)
        path["head"] = head


def document(app: FastAPI) -> None:
    """Wraps ``app.openapi`` (after api/auth.py's and api/idempotency.py's): every operation that
    parses a JSON body answers 400 to one it cannot parse (a gate's event, read as bytes, answers
    422 instead), every operation an operator key calls answers 429 past the key's calls per
    minute, no id in a path holds a control character (an object with such an id cannot exist:
    names and ids are checked as text), /readyz answers 503 while Redis does not, /metrics takes
    its token when one is set, the bodies, examples and links above, and a HEAD wherever a GET is."""
    inner = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        doc = inner()
        for path in doc["paths"].values():
            for op in path.values():
                if "requestBody" in op:
                    op["responses"].setdefault("400", _INVALID_JSON)
                if any("operatorKey" in s for s in op.get("security", [])):
                    op["responses"].setdefault("429", _RATE_LIMITED)
                for param in op.get("parameters", []):
                    schema = param.get("schema", {})
                    if param["in"] == "path" and schema.get("type") == "string" and "pattern" not in schema:
                        schema["pattern"] = TEXT_PATTERN
        _add_bodies(doc)
        _add_patterns(doc)
        doc["components"]["securitySchemes"]["metricsToken"] = _METRICS_TOKEN
        metrics = _operation(doc, "GET /metrics")
        metrics["security"] = [{}, {"metricsToken": []}]
        metrics["responses"]["401"] = {"description": "a token is set and this is not it", "content": _ERROR}
        _operation(doc, "GET /readyz")["responses"]["503"] = {
            "description": "not ready: Redis does not answer (see Retry-After)",
            "content": {"application/json": {"schema": {"type": "object", "properties": {
                "status": {"const": "not_ready"}, "reason": {"type": "string"}}}}}}
        _add_links(doc)
        _add_heads(doc)
        return doc
    app.openapi = openapi
