"""Agents: a language model calling other actions in a loop.

- `conversation` — the provider-neutral shape of a conversation (turns, tool calls, replies).
- `providers` — clients for the model APIs (OpenAI-compatible chat completions, Anthropic Messages,
  MCP sampling), each turning the neutral conversation into its wire format and back.
- `executor` — `AgentExecutor`, the executor of `AGENT` actions: the loop, its limits, the output
  schema check, test mode with mocked tool results.
- `graph` — validation of an agent's tools: they exist in the same guru and form no cycle.
"""
