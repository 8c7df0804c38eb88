"""Validation of the graph that agents form with their tools: every tool exists in the same guru,
and no agent reaches itself through its tools (a cycle would nest until a limit stops it)."""

from __future__ import annotations

from collections.abc import Mapping

from guru_mcp.errors import FieldError
from guru_mcp.models import ActionSpec, AgentConfig


def agent_problems(spec: ActionSpec, known: Mapping[str, ActionSpec]) -> list[FieldError]:
    """Problems with `spec`'s tools, given the other actions of the guru (`known`, by name; entries
    of the same name as `spec` are replaced by it)."""
    config = spec.config
    if not isinstance(config, AgentConfig):
        return []
    graph = {**known, spec.name: spec}
    errors = []
    for i, name in enumerate(config.tools):
        if name == spec.name:
            errors.append(FieldError(f"config.tools[{i}]", "an agent cannot be its own tool"))
        elif name not in graph:
            errors.append(FieldError(f"config.tools[{i}]", f"no action named {name!r} in this guru"))
    if errors:
        return errors
    cycle = find_cycle(spec.name, graph)
    if cycle:
        errors.append(
            FieldError("config.tools", f"agents may not call each other in a cycle: {' -> '.join(cycle)}")
        )
    return errors


def find_cycle(start: str, graph: Mapping[str, ActionSpec]) -> list[str]:
    """A path start -> ... -> start through agents' tools, or [] if there is none."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        name, path = stack.pop()
        spec = graph.get(name)
        if spec is None or not isinstance(spec.config, AgentConfig):
            continue
        for tool in spec.config.tools:
            if tool == start:
                return [*path, start]
            if tool not in seen:
                seen.add(tool)
                stack.append((tool, [*path, tool]))
    return []


def users_of(name: str, specs: Mapping[str, ActionSpec]) -> list[str]:
    """The agents that list `name` among their tools."""
    return sorted(
        other
        for other, spec in specs.items()
        if isinstance(spec.config, AgentConfig) and name in spec.config.tools
    )


def dependency_order(specs: list[ActionSpec]) -> list[ActionSpec]:
    """`specs` with every agent after the tools it lists from the same list (for imports)."""
    by_name = {s.name: s for s in specs}
    done: set[str] = set()
    out: list[ActionSpec] = []

    def visit(spec: ActionSpec, trail: frozenset[str]) -> None:
        if spec.name in done or spec.name in trail:
            return
        if isinstance(spec.config, AgentConfig):
            for tool in spec.config.tools:
                if tool in by_name:
                    visit(by_name[tool], trail | {spec.name})
        done.add(spec.name)
        out.append(spec)

    for spec in specs:
        visit(spec, frozenset())
    return out
