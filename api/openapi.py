"""What the OpenAPI document states beyond what FastAPI derives from the routes: the 400 of a body
that is not JSON, and the text rule of ids in paths."""

from __future__ import annotations

from fastapi import FastAPI

from api.schemas.core import TEXT_PATTERN

__all__ = ["document"]

_INVALID_JSON = {"description": "`invalid_json`: the body is not JSON (or not UTF-8)",
                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}


def document(app: FastAPI) -> None:
    """Wraps ``app.openapi`` (after api/auth.py's and api/idempotency.py's): every operation that
    reads a JSON body answers 400 to one it cannot parse, and no id in a path holds a control
    character (an object with such an id cannot exist: names and ids are checked as text)."""
    inner = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        doc = inner()
        for path in doc["paths"].values():
            for op in path.values():
                if "requestBody" in op:
                    op["responses"].setdefault("400", _INVALID_JSON)
                for param in op.get("parameters", []):
                    schema = param.get("schema", {})
                    if param["in"] == "path" and schema.get("type") == "string" and "pattern" not in schema:
                        schema["pattern"] = TEXT_PATTERN
        return doc
    app.openapi = openapi
