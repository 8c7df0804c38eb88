"""Stand-in model servers on 127.0.0.1 speaking the OpenAI chat-completions and Anthropic Messages
wire formats, driven by a script, plus helpers to set up agents."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from guru_mcp.models import ModelProvider, parse_spec
from tests.support.http import QuietHandler, loopback_http

MODEL_KEY = "sk-model-test-5f4e3d2c1b"


@dataclass
class Say:
    """One scripted model answer: some text and/or tool calls (name, arguments)."""

    text: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


Script = Callable[[int, dict[str, Any]], Say]
"""(index of the request, the request body) -> the answer."""


def scripted(*answers: Say) -> Script:
    def script(i: int, body: dict[str, Any]) -> Say:
        assert i < len(answers), f"the model was asked {i + 1} times; the script has {len(answers)} answers"
        return answers[i]

    return script


@dataclass
class ModelServer:
    url: str
    script: Script = field(default=lambda i, body: Say("ok"))
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tool_results(self, i: int) -> list[str]:
        """The tool results the model was sent in request `i`, in either wire format."""
        body = self.requests[i]
        out = []
        for message in body["messages"]:
            if message.get("role") == "tool":
                out.append(message["content"])
            elif isinstance(message.get("content"), list):
                out += [b["content"] for b in message["content"] if b.get("type") == "tool_result"]
        return out


def _openai(i: int, say: Say) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": say.text or None}
    if say.calls:
        message["tool_calls"] = [
            {
                "id": f"call_{i}_{n}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for n, (name, args) in enumerate(say.calls)
        ]
    return {
        "id": f"chatcmpl-{i}",
        "object": "chat.completion",
        "model": "stand-in-gpt",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if say.calls else "stop"}],
        "usage": {"prompt_tokens": 100 + i, "completion_tokens": 10 + i, "total_tokens": 110 + 2 * i},
    }


def _anthropic(i: int, say: Say) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": say.text}] if say.text else []
    content += [
        {"type": "tool_use", "id": f"toolu_{i}_{n}", "name": name, "input": args}
        for n, (name, args) in enumerate(say.calls)
    ]
    return {
        "id": f"msg_{i}",
        "type": "message",
        "role": "assistant",
        "model": "stand-in-claude",
        "content": content,
        "stop_reason": "tool_use" if say.calls else "end_turn",
        "usage": {"input_tokens": 200 + i, "output_tokens": 20 + i},
    }


class _Handler(QuietHandler):
    model: ModelServer

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.loads(raw)
        with self.model.lock:
            i = len(self.model.requests)
            self.model.requests.append(body)
            self.model.headers.append({k.lower(): v for k, v in self.headers.items()})
        try:
            say = self.model.script(i, body)
        except AssertionError as exc:
            self.reply_json(500, {"error": {"message": str(exc)}})
            return
        if self.path == "/v1/chat/completions":
            self.reply_json(200, _openai(i, say))
        elif self.path == "/v1/messages":
            self.reply_json(200, _anthropic(i, say))
        else:
            self.reply_json(404, {"error": {"message": f"no route {self.path}"}})


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    model = ModelServer(url="")
    with loopback_http(type("Handler", (_Handler,), {"model": model})) as server:
        model.url = server.url
        yield model


async def use_provider(
    app, kind: str, model_server: ModelServer | None = None, name: str = "default"
) -> None:
    """Configure a provider of `kind` against the stand-in (its key held as a secret)."""
    if kind == "sampling":
        await app.store.providers.put("default", ModelProvider(name=name, kind="sampling"))
        return
    await app.vault.put("default", "MODEL_API_KEY", MODEL_KEY)
    base = model_server.url + ("/v1" if kind == "openai" else "")
    await app.store.providers.put(
        "default",
        ModelProvider(name=name, kind=kind, base_url=base, model="stand-in", api_key_secret="MODEL_API_KEY"),
    )


async def save(app, data: dict[str, Any]):
    result = await app.catalog.save_spec("default", parse_spec(data))
    return result


def agent(name: str, tools: list[str], **config: Any) -> dict[str, Any]:
    parameters = config.pop("parameters", None)
    spec: dict[str, Any] = {
        "name": name,
        "action_type": "AGENT",
        "condition_prompt": "When the user asks about an order.",
        "config": {"system_prompt": "You help with orders. Use the tools.", "tools": tools, **config},
    }
    if parameters is not None:
        spec["parameters"] = parameters
    return spec
