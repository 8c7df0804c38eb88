"""The config of an `API_CALL` action: one templated HTTP request."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from guru_mcp.models.common import HEADER_NAME_RE, HTTP_METHODS, ActionType


class Header(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str
    value: str = ""

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        if not HEADER_NAME_RE.fullmatch(value):
            raise ValueError(f"header name {value!r} is not a valid HTTP header name")
        return value

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: str) -> str:
        if any(c in value for c in "\r\n\0"):
            raise ValueError("header values may not contain CR, LF or NUL")
        return value


class ApiCallConfig(BaseModel):
    KIND: ClassVar[ActionType] = ActionType.API_CALL
    """The action type this config is for (the tag of the config union, not a field)."""

    model_config = ConfigDict(extra="ignore")

    endpoint: str
    method: str = "GET"
    headers: list[Header] = Field(default_factory=list)
    body: dict[str, Any] | list[Any] | None = None
    timeout: float | None = Field(default=None, gt=0)
    follow_redirects: bool | None = None
    """Unset: follow redirects within the same origin, refuse one to another origin. True: follow
    every redirect, dropping each header and the body that hold a secret when the origin changes.
    False: follow none (the 3xx answer is the result)."""

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().upper()
            if value not in HTTP_METHODS:
                raise ValueError(f"method must be one of {', '.join(HTTP_METHODS)}")
        return value

    @field_validator("headers", mode="before")
    @classmethod
    def _headers_from_mapping(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [{"key": k, "value": v} for k, v in value.items()]
        return value or []

    @field_validator("body", mode="before")
    @classmethod
    def _body_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"body is not valid JSON: {exc.msg} at position {exc.pos}") from None
        return value

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("endpoint is required")
        if not (value.lower().startswith(("http://", "https://")) or value.startswith("{")):
            raise ValueError("endpoint must start with http:// or https:// (or a {BASE_URL} placeholder)")
        if any(c in value for c in " \r\n\t"):
            raise ValueError("endpoint may not contain whitespace")
        return value
