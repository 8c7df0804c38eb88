"""Import documents: JSON text to the list of action objects it holds (one object, a list of them, or
`{"actions": [...]}`). Light on purpose (no models, no storage): the CLI reads a document before it loads
the rest (see `guru_mcp/scan_ahead.py`).
"""

from __future__ import annotations

import json
from typing import Any

from guru_mcp.errors import FieldError, ValidationFailed

__all__ = ["document_items", "load_document"]


def load_document(text: str | bytes) -> list[dict[str, Any]]:
    """Parse an import document: one action object, a list of them, or `{"actions": [...]}`."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    return document_items(doc)


def document_items(doc: Any) -> list[dict[str, Any]]:
    """The actions of an import document already parsed from JSON (see `load_document`)."""
    if isinstance(doc, dict) and isinstance(doc.get("actions"), list):
        doc = doc["actions"]
    items = doc if isinstance(doc, list) else [doc]
    if not items:
        raise ValidationFailed("the document holds no actions")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValidationFailed(FieldError(f"[{i}]", "each action must be a JSON object"))
    return items
