"""The config of a `PYTHON_CODE` action: a script run in the sandbox."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from guru_mcp.models.common import ActionType


class PythonCodeConfig(BaseModel):
    KIND: ClassVar[ActionType] = ActionType.PYTHON_CODE
    """The action type this config is for (the tag of the config union, not a field)."""

    model_config = ConfigDict(extra="ignore")

    code: str
    timeout: float | None = Field(default=None, gt=0)
    allowed_hosts: list[str] = Field(default_factory=list)
    """Optional: the only hosts this action's code may reach (on top of the server's egress policy)."""

    @field_validator("code")
    @classmethod
    def _check_code(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("code is empty")
        return value
