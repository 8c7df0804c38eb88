"""Structured results: an action that declares an `output_schema` returns JSON checked against it.

- API call: the structured result is the response body (parsed JSON).
- Python: the structured result is the JSON document the script prints as its **last line** of
  output (`print(json.dumps({...}))`); what it printed before stays in the text for the model.

A result that does not match is a failed run whose message names the field (`items[0].id: 'x' is
not of type 'integer'`), so neither the model nor a program ever sees unchecked structured content.
Pure functions, no I/O.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from guru_mcp.models import ActionSpec, ActionType, ExecResult, RunStatus

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

MAX_PROBLEMS = 3
"""Schema violations named in one error message (the rest are counted)."""


def validator_for(spec: ActionSpec) -> Draft202012Validator | None:
    if spec.output_schema is None:
        return None
    from jsonschema import Draft202012Validator  # loads with the first action that has a schema

    return Draft202012Validator(spec.output_schema)


def apply_output_schema(
    spec: ActionSpec, validator: Draft202012Validator | None, result: ExecResult
) -> ExecResult:
    """`result` with `structured` set from the checked document, or turned into a failure that says
    what does not match. Results of actions without a schema, and failed runs, pass unchanged."""
    if validator is None or result.status is not RunStatus.OK:
        return result
    if spec.action_type is ActionType.API_CALL:
        document: Any = result.data.get("data")
        source = "the API's answer"
        if result.data.get("truncated"):
            return _mismatch(
                result, f"{source} was truncated, so it cannot be checked against the output schema"
            )
    else:
        source = "the script's last line of output"
        document, problem = last_json_line(result.data.get("output", result.text))
        if problem:
            return _mismatch(result, f"{source} {problem} (this action declares an output_schema)")
    problems = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    if problems:
        named = "; ".join(f"{_where(p.absolute_path)}: {p.message}" for p in problems[:MAX_PROBLEMS])
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        return _mismatch(result, f"{source} does not match the output schema: {named}{more}")
    return result.model_copy(update={"structured": document})


def last_json_line(output: str) -> tuple[Any, str]:
    """The JSON document on the last non-empty line of `output`, and a problem ("" when none)."""
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        return None, "is missing: the script printed nothing"
    try:
        return json.loads(lines[-1]), ""
    except json.JSONDecodeError as exc:
        return None, f"is not a JSON document ({exc.msg} at column {exc.colno})"


def _where(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _mismatch(result: ExecResult, message: str) -> ExecResult:
    data = {**result.data, "success": False, "error": message}
    return result.model_copy(
        update={
            "status": RunStatus.ERROR,
            "error": message,
            "text": f"{message}\n\n{result.text}",
            "data": data,
        }
    )
