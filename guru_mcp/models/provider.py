"""A model provider (`ModelProvider`): a language model agents of a guru can use, set by an admin."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from guru_mcp.save_checks import secret_name_problem


class ProviderKind(StrEnum):
    OPENAI = "openai"
    """Any OpenAI-compatible chat-completions endpoint (OpenAI, Azure OpenAI, vLLM, Ollama, LiteLLM)."""
    ANTHROPIC = "anthropic"
    """The Anthropic Messages API."""
    SAMPLING = "sampling"
    """MCP sampling: the calling client's own model (the client must support sampling with tools)."""


PROVIDER_NAME_RE = re.compile(r"[a-z0-9_-]{1,64}")


class ModelProvider(BaseModel):
    """A language model agents can use, configured per guru by an admin. The API key is a secret of
    the guru, referred to by name (`api_key_secret`), never stored here."""

    model_config = ConfigDict(extra="ignore")

    name: str = "default"
    kind: ProviderKind
    base_url: str = ""
    """OpenAI: the URL that `/chat/completions` is appended to (e.g. https://api.openai.com/v1).
    Anthropic: default https://api.anthropic.com (`/v1/messages` is appended)."""
    model: str = ""
    api_key_secret: str = ""
    max_tokens: int = Field(default=1024, ge=1, le=200_000)

    @field_validator("kind", mode="before")
    @classmethod
    def _lower_kind(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not PROVIDER_NAME_RE.fullmatch(value):
            raise ValueError("use lowercase letters, digits, '-' and '_' (1-64 characters)")
        return value

    @field_validator("api_key_secret")
    @classmethod
    def _check_secret(cls, value: str) -> str:
        problem = secret_name_problem(value) if value else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.lower().startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _check_kind(self) -> ModelProvider:
        if self.kind is ProviderKind.OPENAI:
            if not self.base_url:
                raise ValueError("an openai provider needs base_url (e.g. https://api.openai.com/v1)")
            if not self.model:
                raise ValueError("an openai provider needs model")
        if self.kind is ProviderKind.ANTHROPIC:
            self.base_url = self.base_url or "https://api.anthropic.com"
            if not self.model:
                raise ValueError("an anthropic provider needs model")
            if not self.api_key_secret:
                raise ValueError("an anthropic provider needs api_key_secret")
        return self
