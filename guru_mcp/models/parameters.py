"""One input of an action (`Parameter`): its type, typed default, and JSON Schema property."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from guru_mcp.models.common import BUILTIN_VARIABLES, PARAM_NAME_RE, ParamType


def _coerce_default(ptype: ParamType, value: Any) -> Any:
    if value is None or value == "":
        return None
    if ptype is ParamType.STRING:
        if isinstance(value, (dict, list)):
            raise ValueError("default of a string parameter must be a string")
        return str(value)
    if ptype is ParamType.NUMBER:
        if isinstance(value, bool):
            raise ValueError("default of a number parameter must be a number")
        if isinstance(value, (int, float)):
            return value
        try:
            number = float(str(value))
        except ValueError:
            raise ValueError(f"default {value!r} is not a number") from None
        return int(number) if number.is_integer() and "." not in str(value) else number
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in ("true", "false"):
        return str(value).strip().lower() == "true"
    raise ValueError(f"default {value!r} is not a boolean (true or false)")


class Parameter(BaseModel):
    """One input of an action: becomes one property of the tool's input schema."""

    model_config = ConfigDict(extra="ignore")

    name: str
    type: ParamType = ParamType.STRING
    description: str = ""
    required: bool = False
    default: str | int | float | bool | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _lower_type(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not PARAM_NAME_RE.fullmatch(value):
            raise ValueError("use letters and underscores only (1-64 characters)")
        if value in BUILTIN_VARIABLES:
            raise ValueError(f"{value} is a reserved built-in variable name")
        return value

    @model_validator(mode="after")
    def _typed_default(self) -> Parameter:
        try:
            self.default = _coerce_default(self.type, self.default)
        except ValueError as exc:
            raise ValueError(f"parameter {self.name!r}: {exc}") from None
        return self

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type.value}
        if self.description:
            schema["description"] = self.description
        if self.default is not None:
            schema["default"] = self.default
        return schema
