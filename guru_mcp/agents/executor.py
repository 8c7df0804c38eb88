"""The executor of `AGENT` actions: a model, a set of tools (other actions of the guru), a loop.

Each round sends the conversation and the tool definitions to the model; the tool calls it asks for
run one after another through the normal run path (`ToolRunner.run_child`: each a child run record
with the parent's id and depth, the caller's identity, masking, limits), and their results go back
to the model. The loop ends with exactly one of these, recorded in the run's `usage.stop`:

- `final_answer` — the model answered without asking for a tool (checked against the output schema,
  if any: one retry asking the model to fix it, then an error);
- `tool_call_limit` — the model asked for more tool calls than `max_tool_calls`;
- `depth_limit` — a tool call would nest deeper than the strictest `max_depth` above it;
- `timeout` — the agent's timeout ran out (its running tool call is cancelled and recorded so);
- `error` — the model API failed or the provider is not usable.

In test mode (`Job.mock_tools`) no tool runs: each call is answered from the mocks and recorded as a
child run marked `mocked`, so an agent can be tried without side effects.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import anyio
import httpx

from guru_mcp.agents.conversation import ToolCall, ToolOutcome, ToolSpec, Turn
from guru_mcp.agents.providers import model_client
from guru_mcp.egress import host_allowed
from guru_mcp.errors import EgressDenied, GuruError, NotFound, RunFailure
from guru_mcp.models import AgentConfig, ExecResult, Job, ModelProvider, ProviderKind, RunStatus
from guru_mcp.secrets import Masker

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

log = logging.getLogger(__name__)

TOOL_RESULT_LIMIT = 16 * 1024
"""Characters of one tool result fed back to the model."""


class ToolRunner(Protocol):
    """The run path, as an agent needs it (implemented by `RunService`)."""

    async def run_child(self, parent: Job, name: str, arguments: dict[str, Any]) -> tuple[str, str, bool]:
        """Run one tool call as a child run of `parent`. Returns (run id, text for the model, is_error)."""
        ...

    async def record_mocked(self, parent: Job, name: str, arguments: dict[str, Any], text: str) -> str:
        """Record a mocked tool call as a child run; returns its id."""
        ...


class ProviderSource(Protocol):
    async def get(self, guru: str, name: str) -> ModelProvider: ...


class SecretSource(Protocol):
    async def resolve_scoped(
        self, guru: str, names: set[str]
    ) -> tuple[dict[str, str], dict[str, list[str]]]: ...


class ToolCatalog(Protocol):
    async def tool_specs(self, guru: str, names: list[str]) -> list[ToolSpec]: ...


class _Stop(RunFailure):
    """The loop stops short of a final answer; `reason` is recorded as the stop reason."""

    def __init__(self, reason: str, message: str, status: RunStatus = RunStatus.ERROR) -> None:
        super().__init__(message, status=status)
        self.reason = reason


class AgentExecutor:
    """Runs `AGENT` jobs. `runner` is bound after the run service is built (it holds this executor)."""

    def __init__(
        self, tools: ToolCatalog, providers: ProviderSource, secrets: SecretSource, http: httpx.AsyncClient
    ) -> None:
        self.tools = tools
        self.providers = providers
        self.secrets = secrets
        self.http = http
        self.runner: ToolRunner | None = None

    async def execute(self, job: Job) -> ExecResult:
        config = job.action.config
        assert isinstance(config, AgentConfig)
        usage: dict[str, Any] = {
            "provider": config.provider,
            "model_calls": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "tool_calls": 0,
        }
        masker = Masker([])
        with anyio.move_on_after(job.timeout) as deadline:
            try:
                provider, api_key = await self._provider(job, config)
                masker = Masker([api_key])
                answer = await self._loop(job, config, provider, api_key, usage)
            except _Stop as stop:
                usage["stop"] = stop.reason
                return _stopped(stop.status, masker.text(stop.message), usage)
            except RunFailure as exc:
                usage["stop"] = "error"
                return _stopped(exc.status, masker.text(str(exc)), usage)
            usage["stop"] = "final_answer"
            text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
            return ExecResult(
                status=RunStatus.OK,
                text=masker.text(text),
                data=masker.data({"success": True, "answer": answer, "tool_calls": usage["tool_calls"]}),
                usage=usage,
            )
        assert deadline.cancelled_caught
        usage["stop"] = "timeout"
        return _stopped(
            RunStatus.TIMEOUT,
            f"stopped: the agent's timeout of {job.timeout:g} s ran out after {usage['tool_calls']} tool call(s) "
            "and before a final answer",
            usage,
        )

    async def _provider(self, job: Job, config: AgentConfig) -> tuple[ModelProvider, str]:
        """The agent's provider and its API key ("" when it needs none)."""
        try:
            provider = await self.providers.get(job.guru, config.provider)
        except NotFound as exc:
            raise RunFailure(str(exc)) from None
        if not provider.api_key_secret:
            return provider, ""
        found, limits = await self.secrets.resolve_scoped(job.guru, {provider.api_key_secret})
        api_key = found.get(provider.api_key_secret, "")
        if not api_key:
            raise RunFailure(
                f"secret {provider.api_key_secret} (the API key of model provider {provider.name!r}) is not set; "
                "an admin must set it"
            )
        allowed = limits.get(provider.api_key_secret)
        host = urlsplit(provider.base_url).hostname or ""
        if provider.kind is not ProviderKind.SAMPLING and allowed and not host_allowed(host, allowed):
            raise EgressDenied(
                f"secret {provider.api_key_secret} may only be sent to {', '.join(allowed)}; refused for model "
                f"provider {provider.name!r} at {host}"
            )
        return provider, api_key

    async def _loop(
        self, job: Job, config: AgentConfig, provider: ModelProvider, api_key: str, usage: dict[str, Any]
    ) -> Any:
        client = model_client(
            provider, http=self.http, api_key=api_key, session=job.sampler, model=config.model
        )
        usage["model"] = config.model or provider.model
        tools = await self.tools.tool_specs(job.guru, config.tools)
        limit = (
            config.max_depth + job.depth
            if job.depth_limit is None
            else min(job.depth_limit, job.depth + config.max_depth)
        )
        child = job.model_copy(update={"depth_limit": limit})
        turns = [Turn(role="user", text=_request_text(job.arguments))]
        validator = None
        if config.output_schema is not None:
            from jsonschema import Draft202012Validator  # loads with the first agent that has a schema

            validator = Draft202012Validator(config.output_schema)
        retried = False
        started = anyio.current_time()
        for _ in range(config.max_tool_calls + 3):  # every round but the last two spends a tool call
            remaining = job.timeout - (anyio.current_time() - started)
            reply = await client.complete(config.system_prompt, turns, tools, timeout=max(remaining, 0.001))
            usage["model_calls"] += 1
            usage["input_tokens"] += reply.input_tokens
            usage["output_tokens"] += reply.output_tokens
            if reply.model:
                usage["model"] = reply.model
            turns.append(reply.turn())
            if not reply.tool_calls:
                if validator is None:
                    return reply.text
                problem, value = _check_output(validator, reply.text)
                if problem is None:
                    return value
                if retried:
                    raise _Stop(
                        "output_schema",
                        f"the final answer does not match the output schema, even after one retry: {problem}",
                    )
                retried = True
                turns.append(
                    Turn(
                        role="user",
                        text=(
                            f"Your answer does not match the required output schema: {problem}. Reply again with only a "
                            f"JSON value valid against this JSON Schema, nothing else: {json.dumps(config.output_schema)}"
                        ),
                    )
                )
                continue
            if job.depth + 1 > limit:
                raise _Stop(
                    "depth_limit",
                    f"stopped: the depth limit of {limit} was reached "
                    f"(a call to {reply.tool_calls[0].name} would run at depth {job.depth + 1})",
                )
            results: list[ToolOutcome] = []
            for call in reply.tool_calls:
                if usage["tool_calls"] >= config.max_tool_calls:
                    raise _Stop(
                        "tool_call_limit",
                        f"stopped: the tool-call limit of {config.max_tool_calls} was "
                        f"reached and the model asked for more ({call.name}) instead of answering",
                    )
                usage["tool_calls"] += 1
                results.append(await self._call(child, config, call))
            turns.append(Turn(role="user", results=results))
        raise _Stop("tool_call_limit", f"stopped: no final answer after {config.max_tool_calls} tool calls")

    async def _call(self, job: Job, config: AgentConfig, call: ToolCall) -> ToolOutcome:
        assert self.runner is not None, "AgentExecutor.runner is bound when the app is built"
        if call.name not in config.tools:
            return ToolOutcome(
                call, f"there is no tool named {call.name!r}; use one of: {', '.join(config.tools)}", True
            )
        if "__unparsed__" in call.arguments:
            return ToolOutcome(
                call, "the arguments were not a JSON object; call the tool again with valid JSON", True
            )
        if job.mock_tools is not None:
            if call.name not in job.mock_tools:
                return ToolOutcome(call, f"test mode: no mocked result was given for {call.name}", True)
            mock = job.mock_tools[call.name]
            text = mock if isinstance(mock, str) else json.dumps(mock, ensure_ascii=False)
            await self.runner.record_mocked(job, call.name, call.arguments, text)
            return ToolOutcome(call, text[:TOOL_RESULT_LIMIT])
        try:
            _run_id, text, is_error = await self.runner.run_child(job, call.name, call.arguments)
        except GuruError as exc:  # no such action, or disabled: the model may pick another tool
            return ToolOutcome(call, str(exc), True)
        return ToolOutcome(call, text[:TOOL_RESULT_LIMIT] or "(no output)", is_error)


def _request_text(arguments: dict[str, Any]) -> str:
    if set(arguments) == {"request"} and isinstance(arguments["request"], str):
        return arguments["request"]
    return "Arguments of this request (JSON): " + json.dumps(arguments, ensure_ascii=False)


def _check_output(validator: Draft202012Validator, text: str) -> tuple[str | None, Any]:
    candidate = text.strip()
    if candidate.startswith("```"):  # models like to fence JSON
        candidate = candidate.strip("`").removeprefix("json").strip()
    try:
        value = json.loads(candidate)
    except ValueError as exc:
        return f"it is not JSON ({exc})", None
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(map(str, first.absolute_path)) or "the answer"
        return f"{where}: {first.message}", None
    return None, value


def _stopped(status: RunStatus, message: str, usage: dict[str, Any]) -> ExecResult:
    return ExecResult(
        status=status,
        text=message,
        error=message,
        data={
            "success": False,
            "error": message,
            "stop": usage.get("stop"),
            "tool_calls": usage["tool_calls"],
        },
        usage=usage,
    )
