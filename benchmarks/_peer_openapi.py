"""The same HTTP operations, written as guru-mcp API-call actions and as an OpenAPI document for
FastMCP's `from_openapi`: the peer benchmarks serve one catalog from both servers.

Placeholders in the endpoint's path become path parameters; the action's other parameters become
query parameters (GET, DELETE) or a JSON request body (POST, PUT, PATCH). Every operation answers
200 with the loopback server's JSON object, described by `ITEM_SCHEMA`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ok": {"type": "boolean"},
        "item": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "count": {"type": "integer"},
    },
}
_JSON_TYPES = {"string": "string", "number": "number", "integer": "integer", "boolean": "boolean"}


def openapi_for(actions: list[dict[str, Any]]) -> dict[str, Any]:
    """An OpenAPI 3.1 document with one operation per API-call action (operationId = action name)."""
    paths: dict[str, dict[str, Any]] = {}
    for action in actions:
        config = action["config"]
        path = urlsplit(config["endpoint"]).path or "/"
        in_path = set(re.findall(r"{(\w+)}", path))
        method = config.get("method", "GET").lower()
        params: list[dict[str, Any]] = []
        body_props: dict[str, Any] = {}
        body_required: list[str] = []
        for p in action.get("parameters", []):
            schema: dict[str, Any] = {"type": _JSON_TYPES.get(p["type"], "string")}
            if "default" in p:
                schema["default"] = p["default"]
            if p["name"] in in_path:
                params.append(
                    {
                        "name": p["name"],
                        "in": "path",
                        "required": True,
                        "description": p["description"],
                        "schema": schema,
                    }
                )
            elif method in ("post", "put", "patch"):
                body_props[p["name"]] = {**schema, "description": p["description"]}
                if p.get("required"):
                    body_required.append(p["name"])
            else:
                params.append(
                    {
                        "name": p["name"],
                        "in": "query",
                        "required": bool(p.get("required")),
                        "description": p["description"],
                        "schema": schema,
                    }
                )
        operation: dict[str, Any] = {
            "operationId": action["name"],
            "summary": action.get("title") or action["name"],
            "description": " ".join(filter(None, [action["condition_prompt"], action.get("instructions")])),
            "parameters": params,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": ITEM_SCHEMA}}}
            },
        }
        if body_props:
            operation["requestBody"] = {
                "required": bool(body_required),
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "properties": body_props, "required": body_required}
                    }
                },
            }
        paths.setdefault(path, {})[method] = operation
    return {"openapi": "3.1.0", "info": {"title": "bench", "version": "1"}, "paths": paths}
