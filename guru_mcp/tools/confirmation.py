"""Asking the user before a call with side effects runs, through MCP elicitation, in both protocol
generations.

- Handshake era (2025-11-25 and earlier): the server sends `elicitation/create` to the client while
  the `tools/call` request is open and waits for the answer.
- 2026-07-28: the first `tools/call` is answered with an `InputRequiredResult` carrying the question
  and a `requestState`; the client asks the user and calls again with the answer and the state. The
  state is sealed by the SDK's `RequestStateBoundary` (AES-GCM under a key derived from the server's
  secret key, so any replica can check it) and bound to the tool, its arguments, the caller and a
  ten-minute expiry: an answer cannot be replayed for other arguments, and a client cannot skip the
  question by sending an answer it was never asked for.

`ask` returns what to do: run (`APPROVED`), not run (`DECLINED`, recorded `denied`), the client
cannot be asked (`UNSUPPORTED`: an error unless the guru allows unconfirmed runs), or, on
2026-07-28, the `InputRequiredResult` to send back first.
"""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from typing import Any

import anyio
import mcp_types as types
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

log = logging.getLogger(__name__)

INPUT_KEY = "confirm"
"""Key of the confirmation in `InputRequiredResult.input_requests` / `input_responses`."""
STATE_PREFIX = "guru-mcp:confirm:"
ANSWER_TIMEOUT = 300.0
"""How long a handshake-era client may take to answer (the user is reading the question)."""
ARGUMENTS_SHOWN = 2000
"""Characters of the arguments shown in the question."""

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "confirm": {
            "type": "boolean",
            "title": "Run it",
            "description": "Leave checked and accept to run; decline to cancel.",
            "default": True,
        }
    },
}


class Decision(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    UNSUPPORTED = "unsupported"


def question(kind: str, name: str, arguments: dict[str, Any]) -> str:
    """The message shown to the user: which action, with which (already masked) arguments."""
    shown = json.dumps(arguments, ensure_ascii=False, sort_keys=True, default=str)
    if len(shown) > ARGUMENTS_SHOWN:
        shown = shown[:ARGUMENTS_SHOWN] + "…"
    return f"Allow the {kind} {name!r} to run with these arguments?\n{shown}"


def _can_elicit(ctx: Any) -> bool:
    caps = getattr(ctx.session, "client_capabilities", None)
    elicitation = getattr(caps, "elicitation", None) if caps is not None else None
    if elicitation is None:
        return False
    # An empty elicitation capability means form mode (the only mode before URL mode existed).
    return elicitation.form is not None or getattr(elicitation, "url", None) is None


def _judge(answer: types.ElicitResult) -> Decision:
    if answer.action != "accept":
        return Decision.DECLINED
    content = answer.content or {}
    return Decision.DECLINED if content.get("confirm") is False else Decision.APPROVED


async def ask(
    ctx: Any, params: types.CallToolRequestParams, message: str
) -> Decision | types.InputRequiredResult:
    """Ask the user to confirm this call (see the module docstring)."""
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return _ask_modern(ctx, params, message)
    if not _can_elicit(ctx):
        return Decision.UNSUPPORTED
    try:
        with anyio.fail_after(ANSWER_TIMEOUT):
            answer = await ctx.session.elicit_form(message, SCHEMA, related_request_id=ctx.request_id)
    except TimeoutError:
        log.info("no answer to a confirmation within %g s; not running", ANSWER_TIMEOUT)
        return Decision.DECLINED
    return _judge(answer)


def _ask_modern(
    ctx: Any, params: types.CallToolRequestParams, message: str
) -> Decision | types.InputRequiredResult:
    state = params.request_state
    responses = params.input_responses or {}
    if state is not None and state.startswith(STATE_PREFIX) and INPUT_KEY in responses:
        answer = responses[INPUT_KEY]
        if isinstance(answer, types.ElicitResult):
            return _judge(answer)
        return Decision.DECLINED
    if not _can_elicit(ctx):
        return Decision.UNSUPPORTED
    request = types.ElicitRequest(
        params=types.ElicitRequestFormParams(message=message, requested_schema=SCHEMA)
    )
    return types.InputRequiredResult(
        input_requests={INPUT_KEY: request}, request_state=STATE_PREFIX + params.name
    )
