"""Clients for the model APIs an agent can use, behind one method: `complete(...) -> Reply`.

- `OpenAIChat` — `POST {base_url}/chat/completions` (OpenAI's Chat Completions API, also spoken by
  Azure OpenAI, vLLM, Ollama and LiteLLM): `tools` as `{"type": "function", "function": {...}}`,
  tool calls in `choices[0].message.tool_calls` with JSON-text arguments, results as `role: tool`.
- `AnthropicMessages` — `POST {base_url}/v1/messages` (`x-api-key`, `anthropic-version`): `tools` as
  `{name, description, input_schema}`, `tool_use` blocks in the answer, `tool_result` blocks back.
- `SamplingModel` — MCP `sampling/createMessage` on the calling client's session, with tools
  (`ToolUseContent` / `ToolResultContent`); the client must declare `sampling.tools`.

HTTP goes through the one shared, egress-checked client. Every call has a deadline.
"""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import httpx

from guru_mcp.agents.conversation import Reply, ToolCall, ToolSpec, Turn
from guru_mcp.errors import EgressDenied, RunFailure
from guru_mcp.models import ModelProvider, ProviderKind, RunStatus

if TYPE_CHECKING:
    import mcp_types as types

ANTHROPIC_VERSION = "2023-06-01"
RESPONSE_LIMIT = 4 * 1024 * 1024


class ModelClient(Protocol):
    async def complete(
        self, system: str, turns: list[Turn], tools: list[ToolSpec], *, timeout: float
    ) -> Reply: ...


class _HttpModel:
    label = "model"

    def __init__(self, http: httpx.AsyncClient, provider: ModelProvider, api_key: str, model: str) -> None:
        self.http = http
        self.provider = provider
        self.api_key = api_key
        self.model = model

    async def _post(
        self, url: str, headers: dict[str, str], body: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        name = self.provider.name
        try:
            # No redirects: the key headers (x-api-key too, which httpx would carry along) stay at this origin.
            response = await self.http.post(
                url, headers=headers, json=body, timeout=httpx.Timeout(timeout), follow_redirects=False
            )
        except EgressDenied:
            raise
        except httpx.TimeoutException:
            raise RunFailure(
                f"model provider {name!r} did not answer within {timeout:.3g} s", status=RunStatus.TIMEOUT
            ) from None
        except httpx.HTTPError as exc:
            raise RunFailure(
                f"model provider {name!r} could not be reached: {type(exc).__name__}: {exc}"
            ) from None
        if len(response.content) > RESPONSE_LIMIT:
            raise RunFailure(f"model provider {name!r} sent an answer larger than {RESPONSE_LIMIT} bytes")
        try:
            data = response.json()
        except ValueError:
            data = None
        if not response.is_success:
            detail = _error_message(data) or response.text[:300]
            raise RunFailure(f"model provider {name!r} answered HTTP {response.status_code}: {detail}")
        if not isinstance(data, dict):
            raise RunFailure(f"model provider {name!r} sent an answer that is not a JSON object")
        return data


def _error_message(data: Any) -> str:
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("type") or "")[:300]
        if isinstance(error, str):
            return error[:300]
    return ""


class OpenAIChat(_HttpModel):
    """An OpenAI-compatible chat-completions endpoint."""

    def _messages(self, system: str, turns: list[Turn]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"role": "system", "content": system}]
        for turn in turns:
            if turn.role == "assistant":
                message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
                if turn.tool_calls:
                    message["tool_calls"] = [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                        }
                        for c in turn.tool_calls
                    ]
                out.append(message)
                continue
            for result in turn.results:
                out.append({"role": "tool", "tool_call_id": result.call.id, "content": result.text})
            if turn.text:
                out.append({"role": "user", "content": turn.text})
        return out

    async def complete(
        self, system: str, turns: list[Turn], tools: list[ToolSpec], *, timeout: float
    ) -> Reply:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self._messages(system, turns),
            "max_tokens": self.provider.max_tokens,
        }
        if tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.input_schema},
                }
                for t in tools
            ]
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        data = await self._post(f"{self.provider.base_url}/chat/completions", headers, body, timeout)
        try:
            choice = data["choices"][0]
            message = choice["message"]
            calls = []
            for raw in message.get("tool_calls") or []:
                fn = raw["function"]
                args = fn.get("arguments") or "{}"
                calls.append(ToolCall(id=str(raw["id"]), name=str(fn["name"]), arguments=_arguments(args)))
            usage = data.get("usage") or {}
            return Reply(
                text=message.get("content") or "",
                tool_calls=calls,
                model=str(data.get("model") or self.model),
                input_tokens=int(usage.get("prompt_tokens") or 0),
                output_tokens=int(usage.get("completion_tokens") or 0),
                stop_reason=str(choice.get("finish_reason") or ""),
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise RunFailure(
                f"model provider {self.provider.name!r} sent an answer not in the chat-completions shape ({exc!r})"
            ) from None


def _arguments(raw: Any) -> dict[str, Any]:
    """Tool arguments: OpenAI sends JSON text; a model may send junk, which the tool run then refuses."""
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return {"__unparsed__": str(raw)[:500]}
    return value if isinstance(value, dict) else {"__unparsed__": str(raw)[:500]}


class AnthropicMessages(_HttpModel):
    """The Anthropic Messages API."""

    def _messages(self, turns: list[Turn]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for turn in turns:
            blocks: list[dict[str, Any]] = []
            if turn.role == "assistant":
                if turn.text:
                    blocks.append({"type": "text", "text": turn.text})
                blocks += [
                    {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                    for c in turn.tool_calls
                ]
            else:
                blocks += [
                    {
                        "type": "tool_result",
                        "tool_use_id": r.call.id,
                        "content": r.text,
                        "is_error": r.is_error,
                    }
                    for r in turn.results
                ]
                if turn.text:
                    blocks.append({"type": "text", "text": turn.text})
            if out and out[-1]["role"] == turn.role:  # the API wants roles to alternate
                out[-1]["content"] += blocks
            else:
                out.append({"role": turn.role, "content": blocks})
        return out

    async def complete(
        self, system: str, turns: list[Turn], tools: list[ToolSpec], *, timeout: float
    ) -> Reply:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.provider.max_tokens,
            "system": system,
            "messages": self._messages(turns),
        }
        if tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in tools
            ]
        headers = {"x-api-key": self.api_key, "anthropic-version": ANTHROPIC_VERSION}
        data = await self._post(f"{self.provider.base_url}/v1/messages", headers, body, timeout)
        try:
            texts, calls = [], []
            for block in data["content"]:
                if block.get("type") == "text":
                    texts.append(block.get("text") or "")
                elif block.get("type") == "tool_use":
                    calls.append(
                        ToolCall(
                            id=str(block["id"]),
                            name=str(block["name"]),
                            arguments=_arguments(block.get("input") or {}),
                        )
                    )
            usage = data.get("usage") or {}
            return Reply(
                text="".join(texts),
                tool_calls=calls,
                model=str(data.get("model") or self.model),
                input_tokens=int(usage.get("input_tokens") or 0),
                output_tokens=int(usage.get("output_tokens") or 0),
                stop_reason=str(data.get("stop_reason") or ""),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RunFailure(
                f"model provider {self.provider.name!r} sent an answer not in the Messages API shape ({exc!r})"
            ) from None


class SamplingModel:
    """The calling client's own model, over MCP sampling with tools."""

    def __init__(self, session: Any, provider: ModelProvider, model: str) -> None:
        self.session = session
        self.provider = provider
        self.model = model

    def _messages(self, turns: list[Turn]) -> list[types.SamplingMessage]:
        import mcp_types as types  # the MCP types load only when an agent samples

        out: list[types.SamplingMessage] = []
        for turn in turns:
            content: list[Any] = []
            if turn.role == "assistant":
                if turn.text:
                    content.append(types.TextContent(type="text", text=turn.text))
                content += [
                    types.ToolUseContent(id=c.id, name=c.name, input=c.arguments) for c in turn.tool_calls
                ]
            elif turn.results:  # tool results travel alone in their message (SEP-1577)
                content = [
                    types.ToolResultContent(
                        tool_use_id=r.call.id,
                        content=[types.TextContent(type="text", text=r.text)],
                        is_error=r.is_error,
                    )
                    for r in turn.results
                ]
            else:
                content.append(types.TextContent(type="text", text=turn.text))
            out.append(types.SamplingMessage(role=turn.role, content=content))
        return out

    async def complete(
        self, system: str, turns: list[Turn], tools: list[ToolSpec], *, timeout: float
    ) -> Reply:
        if self.session is None:
            raise RunFailure(
                "this agent uses MCP sampling, which needs a calling MCP client; a schedule or the CLI has none"
            )
        caps = getattr(self.session, "client_capabilities", None)
        if caps is None or caps.sampling is None or caps.sampling.tools is None:
            raise RunFailure(
                "this agent uses MCP sampling, but the calling client does not support sampling with tools "
                "(capability sampling.tools)"
            )
        import mcp_types as types

        preferences = types.ModelPreferences(hints=[types.ModelHint(name=self.model)]) if self.model else None
        mcp_tools = [
            types.Tool(name=t.name, description=t.description, input_schema=t.input_schema) for t in tools
        ]
        with (
            warnings.catch_warnings()
        ):  # sampling is deprecated in 2026-07-28, still what 2025-11-25 clients speak
            warnings.simplefilter("ignore")
            pending = self.session.create_message(
                self._messages(turns),
                max_tokens=self.provider.max_tokens,
                system_prompt=system,
                model_preferences=preferences,
                tools=mcp_tools,
            )
        try:
            with anyio.fail_after(timeout):
                result = await pending
        except TimeoutError:
            raise RunFailure(
                f"the client's model did not answer within {timeout:.3g} s", status=RunStatus.TIMEOUT
            ) from None
        except Exception as exc:  # the client refused or failed: MCPError, a closed connection
            raise RunFailure(f"the calling client's sampling failed: {exc}") from None
        texts, calls = [], []
        for block in result.content_as_list:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                calls.append(ToolCall(id=block.id, name=block.name, arguments=dict(block.input)))
        return Reply(
            text="".join(texts),
            tool_calls=calls,
            model=result.model,
            stop_reason=str(result.stop_reason or ""),
        )


def model_client(
    provider: ModelProvider, *, http: httpx.AsyncClient, api_key: str, session: Any, model: str | None = None
) -> ModelClient:
    chosen = model or provider.model
    if provider.kind is ProviderKind.OPENAI:
        return OpenAIChat(http, provider, api_key, chosen)
    if provider.kind is ProviderKind.ANTHROPIC:
        return AnthropicMessages(http, provider, api_key, chosen)
    return SamplingModel(session, provider, chosen)
