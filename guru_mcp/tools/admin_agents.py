"""Admin tools for agents: the model providers of a guru, and agent run trees in the history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from guru_mcp.app import App
from guru_mcp.errors import FieldError, ValidationFailed
from guru_mcp.models import MAX_AGENT_DEPTH, Caller, ProviderKind, RunRecord, parse_provider
from guru_mcp.tools.registry import AdminTool, NoArgs

TREE_LIMIT = 1000
"""At most this many runs in one run tree answer."""


class ProviderSetArgs(BaseModel):
    name: str = Field(default="default", description="Provider name agents refer to (config.provider).")
    kind: ProviderKind = Field(
        description="openai (any OpenAI-compatible chat-completions endpoint: OpenAI, Azure OpenAI, vLLM, Ollama, "
        "LiteLLM), anthropic (the Messages API), or sampling (the calling MCP client's own model)."
    )
    base_url: str = Field(
        default="", description="openai: e.g. https://api.openai.com/v1; anthropic: optional."
    )
    model: str = Field(
        default="",
        description="Model name, e.g. gpt-4.1-mini or claude-sonnet-4-5; for sampling "
        "an optional hint to the client.",
    )
    api_key_secret: str = Field(default="", description="Name of the secret holding the API key.")
    api_key: str | None = Field(
        default=None,
        description="The API key itself: stored encrypted as the secret "
        "api_key_secret (default name <NAME>_MODEL_API_KEY) and never shown again.",
    )
    max_tokens: int = Field(default=1024, ge=1, le=200_000, description="Most tokens per model answer.")


class ProviderByName(BaseModel):
    name: str = Field(description="The provider's name.")


async def _provider_set(app: App, caller: Caller, args: ProviderSetArgs) -> Any:
    secret = args.api_key_secret
    if args.api_key is not None and not secret:
        secret = f"{args.name.upper().replace('-', '_')}_MODEL_API_KEY"
    provider = parse_provider(
        {
            "name": args.name,
            "kind": args.kind,
            "base_url": args.base_url,
            "model": args.model,
            "api_key_secret": secret,
            "max_tokens": args.max_tokens,
        }
    )
    if args.api_key is not None:
        await app.vault.put(caller.guru, secret, args.api_key)
    elif secret and secret not in await app.store.secrets.secret_names(caller.guru):
        raise ValidationFailed(
            FieldError("api_key_secret", f"no secret named {secret!r}; set it first or pass api_key")
        )
    created = await app.store.providers.put(caller.guru, provider)
    waiting = sorted(
        a.name
        for a in await app.catalog.list_actions(caller.guru)
        if not a.enabled and a.disabled_reason.startswith(f"model provider {provider.name!r}")
    )
    out: dict[str, Any] = {"provider": provider.model_dump(mode="json"), "created": created}
    if waiting:
        out["note"] = (
            f"disabled agents waiting for this provider: {', '.join(waiting)}; enable them when ready"
        )
    return out


async def _providers_list(app: App, caller: Caller, args: NoArgs) -> Any:
    actions = await app.catalog.list_actions(caller.guru)
    rows = []
    for provider in await app.store.providers.list_providers(caller.guru):
        row = provider.model_dump(mode="json")
        row["used_by"] = sorted(
            a.name for a in actions if getattr(a.spec.config, "provider", None) == provider.name
        )
        rows.append(row)
    return {"providers": rows}


async def _provider_delete(app: App, caller: Caller, args: ProviderByName) -> Any:
    await app.store.providers.delete(caller.guru, args.name)
    return {"deleted": args.name, "note": "agents using it fail until it is configured again"}


async def run_tree(
    app: App, guru: str, root: RunRecord, row: Callable[..., dict[str, Any]]
) -> dict[str, Any]:
    """`root` as a row with its descendants nested under `children` (oldest first), bounded."""
    top: dict[str, Any] = row(root, full=True)
    level, nodes, count = [root], {root.id: top}, 1
    for _ in range(MAX_AGENT_DEPTH + 1):
        children = await app.store.runs.child_runs(guru, [r.id for r in level])
        if not children:
            break
        for child in children[: max(TREE_LIMIT - count, 0)]:
            node = row(child)
            nodes[child.id] = node
            nodes[child.parent_run_id or ""].setdefault("children", []).append(node)
        count += len(children)
        if count >= TREE_LIMIT:
            top["tree_truncated"] = True
            break
        level = children
    return top


AGENT_TOOLS: list[AdminTool] = [
    AdminTool(
        "admin_provider_set",
        "Configure a model provider for agents (create or replace): an "
        "OpenAI-compatible endpoint, the Anthropic Messages API, or MCP sampling. The API key is kept as an "
        "encrypted secret.",
        ProviderSetArgs,
        _provider_set,
    ),
    AdminTool(
        "admin_providers_list",
        "List this guru's model providers (never their keys) and the agents using each.",
        NoArgs,
        _providers_list,
        read_only=True,
    ),
    AdminTool(
        "admin_provider_delete",
        "Delete a model provider. Agents using it fail until it is configured again.",
        ProviderByName,
        _provider_delete,
        destructive=True,
    ),
]
