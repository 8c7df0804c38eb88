"""The action editor's form: to an action definition and back, and where each validation message goes.

The form is flat HTML (repeated fields for parameter and header rows); `definition_from_form` turns
it into the same dictionary an import document holds, so the console validates exactly as import
does (`parse_spec`, then `Catalog.check`). Problems the form itself can see (a body that is not JSON)
are reported the same way, as field errors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from guru_mcp.errors import FieldError

PARAM_FIELDS = ("p_name", "p_type", "p_description", "p_required", "p_default")
HEADER_FIELDS = ("h_key", "h_value")
TOP_LEVEL = ("name", "title", "condition_prompt", "instructions", "action_type", "secrets", "enabled")
CONFIG_FIELDS = ("endpoint", "method", "timeout", "code", "allowed_hosts", "body")
SCHEDULE_FIELDS = ("cron", "timezone", "arguments", "overlap", "misfire", "enabled")
CHECKBOXES = ("enabled", "schedule_enabled")


@dataclass
class EditorForm:
    """What the editor shows: field values as text, rows of the two tables, and messages by slot."""

    values: dict[str, str] = field(default_factory=dict)
    params: list[dict[str, str]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def slots(self) -> list[str]:
        """Every message slot this form has (so a validation answer can clear the ones now fine)."""
        out = ["general", *TOP_LEVEL, "parameters", "config", "schedule"]
        out += [f"config-{f}" for f in CONFIG_FIELDS] + ["config-headers"]
        out += [f"schedule-{f}" for f in SCHEDULE_FIELDS]
        out += [f"parameters-{i}" for i in range(len(self.params))]
        out += [f"config-headers-{i}" for i in range(len(self.headers))]
        return out

    def add(self, errors: list[FieldError]) -> None:
        known = set(self.slots())
        for error in errors:
            slot = slot_for(error.field)
            if slot not in known:
                slot = slot.rsplit("-", 1)[0] if slot.rsplit("-", 1)[0] in known else "general"
            self.errors.setdefault(slot, []).append(error.message if slot != "general" else str(error))


def slot_for(name: str) -> str:
    """The message slot of a validation error's field: `config.headers[1].value` -> `config-headers-1`."""
    name = re.sub(r"^\[\d+\]\s*'[^']*'\s*", "", name.strip())  # import-style prefixes
    if not name:
        return "general"
    if m := re.match(r"^parameters\[(\d+)\]", name):
        return f"parameters-{m.group(1)}"
    if m := re.match(r"^config\.headers\[(\d+)\]", name):
        return f"config-headers-{m.group(1)}"
    head, _, rest = name.partition(".")
    if head == "config":
        sub = re.split(r"[.\[]", rest, maxsplit=1)[0]
        return f"config-{sub}" if sub in CONFIG_FIELDS or sub == "headers" else "config"
    if head == "schedule":
        sub = re.split(r"[.\[]", rest, maxsplit=1)[0]
        return f"schedule-{sub}" if sub in SCHEDULE_FIELDS else "schedule"
    return head if head in TOP_LEVEL or head == "parameters" else "general"


def _rows(form: Any, names: tuple[str, ...]) -> list[dict[str, str]]:
    columns = {n: form.getlist(n) for n in names}
    count = max((len(v) for v in columns.values()), default=0)
    rows = [{n: (columns[n][i] if i < len(columns[n]) else "") for n in names} for i in range(count)]
    return rows


def _blank(row: dict[str, str], keys: tuple[str, ...]) -> bool:
    return not any(row[k].strip() for k in keys)


def _json_field(text: str, where: str, errors: list[FieldError], *, default: Any = None) -> Any:
    if not text.strip():
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        errors.append(FieldError(where, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"))
        return default


def _number(text: str, where: str, errors: list[FieldError]) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        errors.append(FieldError(where, f"{text!r} is not a number of seconds"))
        return None


def read_form(form: Any) -> EditorForm:
    """The submitted editor, as it will be shown again (blank table rows dropped)."""
    values = {k: str(v) for k, v in form.items() if k not in PARAM_FIELDS + HEADER_FIELDS}
    blank = form_from_definition({}, enabled=False).values
    values = {**blank, **{box: "" for box in CHECKBOXES}, **values}  # an unticked box is not sent at all
    params = [r for r in _rows(form, PARAM_FIELDS) if not _blank(r, ("p_name", "p_description", "p_default"))]
    headers = [r for r in _rows(form, HEADER_FIELDS) if not _blank(r, HEADER_FIELDS)]
    return EditorForm(values=values, params=params, headers=headers)


def definition_from_form(editor: EditorForm) -> tuple[dict[str, Any], list[FieldError]]:
    """The action definition the form describes, and the problems found in its text fields."""
    v = editor.values
    errors: list[FieldError] = []
    kind = v.get("action_type", "API_CALL").strip().upper()
    parameters = []
    for row in editor.params:
        param: dict[str, Any] = {
            "name": row["p_name"].strip(),
            "type": row["p_type"] or "string",
            "description": row["p_description"],
            "required": row["p_required"] == "yes",
        }
        if row["p_default"].strip():
            param["default"] = row["p_default"]
        parameters.append(param)
    timeout = _number(v.get("timeout", ""), "config.timeout", errors)
    config: dict[str, Any]
    if kind == "PYTHON_CODE":
        config = {"code": v.get("code", "")}
        hosts = [h.strip() for h in re.split(r"[,\s]+", v.get("allowed_hosts", "")) if h.strip()]
        if hosts:
            config["allowed_hosts"] = hosts
    else:
        config = {
            "endpoint": v.get("endpoint", ""),
            "method": v.get("method", "GET"),
            "headers": [{"key": h["h_key"].strip(), "value": h["h_value"]} for h in editor.headers],
        }
        body = _json_field(v.get("body", ""), "config.body", errors)
        if body is not None:
            config["body"] = body
    if timeout is not None:
        config["timeout"] = timeout
    data: dict[str, Any] = {
        "name": v.get("name", "").strip(),
        "title": v.get("title", ""),
        "condition_prompt": v.get("condition_prompt", ""),
        "instructions": v.get("instructions", ""),
        "action_type": kind,
        "parameters": parameters,
        "config": config,
        "enabled": v.get("enabled") == "on",
        "secrets": [s.strip() for s in re.split(r"[,\s]+", v.get("secrets", "")) if s.strip()],
        "schedule": None,
    }
    if v.get("cron", "").strip():
        arguments = _json_field(v.get("schedule_arguments", ""), "schedule.arguments", errors, default={})
        if not isinstance(arguments, dict):
            errors.append(FieldError("schedule.arguments", "must be a JSON object of parameter values"))
            arguments = {}
        data["schedule"] = {
            "cron": v["cron"].strip(),
            "timezone": v.get("timezone", "").strip() or "UTC",
            "arguments": arguments,
            "overlap": v.get("overlap", "skip"),
            "misfire": v.get("misfire", "run_once"),
            "enabled": v.get("schedule_enabled") == "on",
        }
    return data, errors


def form_from_definition(data: dict[str, Any], *, enabled: bool) -> EditorForm:
    """The editor filled from a stored action's export."""
    config = data.get("config", {})
    schedule = data.get("schedule") or {}
    body = config.get("body")
    values = {
        "name": data.get("name", ""),
        "title": data.get("title", ""),
        "condition_prompt": data.get("condition_prompt", ""),
        "instructions": data.get("instructions", ""),
        "action_type": data.get("action_type", "API_CALL"),
        "enabled": "on" if enabled else "",
        "secrets": ", ".join(data.get("secrets", [])),
        "endpoint": config.get("endpoint", ""),
        "method": config.get("method", "GET"),
        "body": json.dumps(body, indent=2, ensure_ascii=False) if body is not None else "",
        "timeout": _plain_number(config.get("timeout")),
        "code": config.get("code", ""),
        "allowed_hosts": ", ".join(config.get("allowed_hosts", [])),
        "cron": schedule.get("cron", ""),
        "timezone": schedule.get("timezone", "UTC"),
        "schedule_arguments": json.dumps(schedule.get("arguments", {})) if schedule else "",
        "overlap": schedule.get("overlap", "skip"),
        "misfire": schedule.get("misfire", "run_once"),
        "schedule_enabled": "on" if schedule.get("enabled", True) else "",
    }
    params = [
        {
            "p_name": p["name"],
            "p_type": p.get("type", "string"),
            "p_description": p.get("description", ""),
            "p_required": "yes" if p.get("required") else "no",
            "p_default": "" if p.get("default") is None else _default_text(p["default"]),
        }
        for p in data.get("parameters", [])
    ]
    headers = [{"h_key": h["key"], "h_value": h.get("value", "")} for h in config.get("headers", [])]
    return EditorForm(values=values, params=params, headers=headers)


def _plain_number(value: Any) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def _default_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _plain_number(value) if isinstance(value, (int, float)) else str(value)


def sample_arguments(data: dict[str, Any]) -> dict[str, Any]:
    """Arguments to prefill the Test panel with: each parameter's default, else an empty value."""
    samples = {"string": "", "number": 0, "boolean": False}
    return {
        p["name"]: p["default"] if p.get("default") is not None else samples.get(p.get("type", "string"), "")
        for p in data.get("parameters", [])
    }
