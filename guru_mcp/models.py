"""Pure data models: action definitions, callers, jobs, results, run records. No I/O here.

`ActionSpec` is the canonical form of an action. Its JSON form is the Gurubase export format
(`name`, `condition_prompt`, `action_type`, `parameters`, `config`) plus our own optional fields
(`title`, `instructions`, `enabled`, `secrets`, `schedule`), so a Gurubase export imports as-is.
Three types: `PYTHON_CODE`, `API_CALL`, and `AGENT` (a model-driven loop over other actions).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from guru_mcp.errors import FieldError, ValidationFailed
from guru_mcp.run_status import RunStatus as RunStatus  # re-exported: models name every run field type
from guru_mcp.save_checks import secret_name_problem

BUILTIN_VARIABLES = (
    "GURUBASE_USER_EMAIL",
    "GURUBASE_USER_NAME",
    "GURUBASE_USER_GROUPS",
    "GURUBASE_GURU_SLUG",
)
# Name patterns are applied with `fullmatch` only: `$` would also match before a trailing newline.
ACTION_NAME_RE = re.compile(r"[a-z0-9_]{1,64}")
PARAM_NAME_RE = re.compile(r"[A-Za-z_]{1,64}")
HEADER_NAME_RE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ARGS_JSON_VARIABLE = "GURU_ARGS_JSON"
"""The environment variable holding a Python action's arguments as typed JSON (sandbox/guru.py reads it)."""
MIN_SECRET_LENGTH = 8
"""Shorter values could not be masked meaningfully (they would blot out ordinary words)."""


class ActionType(StrEnum):
    PYTHON_CODE = "PYTHON_CODE"
    API_CALL = "API_CALL"
    AGENT = "AGENT"


class ParamType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"


class Trigger(StrEnum):
    TOOL_CALL = "tool_call"
    TEST = "test"
    MANUAL = "manual"
    SCHEDULE = "schedule"


def slugify(name: str) -> str:
    """A tool-safe name from a human one: `Get Weather Data` -> `get_weather_data`."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    return slug[:64] or "action"


def _coerce_default(ptype: ParamType, value: Any) -> Any:
    if value is None or value == "":
        return None
    if ptype is ParamType.STRING:
        if isinstance(value, (dict, list)):
            raise ValueError("default of a string parameter must be a string")
        return str(value)
    if ptype is ParamType.NUMBER:
        if isinstance(value, bool):
            raise ValueError("default of a number parameter must be a number")
        if isinstance(value, (int, float)):
            return value
        try:
            number = float(str(value))
        except ValueError:
            raise ValueError(f"default {value!r} is not a number") from None
        return int(number) if number.is_integer() and "." not in str(value) else number
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in ("true", "false"):
        return str(value).strip().lower() == "true"
    raise ValueError(f"default {value!r} is not a boolean (true or false)")


class Parameter(BaseModel):
    """One input of an action: becomes one property of the tool's input schema."""

    model_config = ConfigDict(extra="ignore")

    name: str
    type: ParamType = ParamType.STRING
    description: str = ""
    required: bool = False
    default: str | int | float | bool | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _lower_type(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not PARAM_NAME_RE.fullmatch(value):
            raise ValueError("use letters and underscores only (1-64 characters)")
        if value in BUILTIN_VARIABLES:
            raise ValueError(f"{value} is a reserved built-in variable name")
        return value

    @model_validator(mode="after")
    def _typed_default(self) -> Parameter:
        try:
            self.default = _coerce_default(self.type, self.default)
        except ValueError as exc:
            raise ValueError(f"parameter {self.name!r}: {exc}") from None
        return self

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type.value}
        if self.description:
            schema["description"] = self.description
        if self.default is not None:
            schema["default"] = self.default
        return schema


class Header(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str
    value: str = ""

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        if not HEADER_NAME_RE.fullmatch(value):
            raise ValueError(f"header name {value!r} is not a valid HTTP header name")
        return value

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: str) -> str:
        if any(c in value for c in "\r\n\0"):
            raise ValueError("header values may not contain CR, LF or NUL")
        return value


class ApiCallConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    endpoint: str
    method: str = "GET"
    headers: list[Header] = Field(default_factory=list)
    body: dict[str, Any] | list[Any] | None = None
    timeout: float | None = Field(default=None, gt=0)
    follow_redirects: bool | None = None
    """Unset: follow redirects within the same origin, refuse one to another origin. True: follow
    every redirect, dropping each header and the body that hold a secret when the origin changes.
    False: follow none (the 3xx answer is the result)."""

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().upper()
            if value not in HTTP_METHODS:
                raise ValueError(f"method must be one of {', '.join(HTTP_METHODS)}")
        return value

    @field_validator("headers", mode="before")
    @classmethod
    def _headers_from_mapping(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [{"key": k, "value": v} for k, v in value.items()]
        return value or []

    @field_validator("body", mode="before")
    @classmethod
    def _body_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"body is not valid JSON: {exc.msg} at position {exc.pos}") from None
        return value

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("endpoint is required")
        if not (value.lower().startswith(("http://", "https://")) or value.startswith("{")):
            raise ValueError("endpoint must start with http:// or https:// (or a {BASE_URL} placeholder)")
        if any(c in value for c in " \r\n\t"):
            raise ValueError("endpoint may not contain whitespace")
        return value


class PythonCodeConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str
    timeout: float | None = Field(default=None, gt=0)
    allowed_hosts: list[str] = Field(default_factory=list)
    """Optional: the only hosts this action's code may reach (on top of the server's egress policy)."""

    @field_validator("code")
    @classmethod
    def _check_code(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("code is empty")
        return value


MAX_AGENT_TOOL_CALLS = 100
MAX_AGENT_DEPTH = 10


class AgentConfig(BaseModel):
    """An agent: a language model that may call the listed actions (or agents) of the same guru, in a
    loop, until it gives a final answer or hits one of its limits."""

    model_config = ConfigDict(extra="ignore")

    system_prompt: str
    tools: list[str] = Field(default_factory=list)
    """Names of the actions and agents of the same guru that the model may call."""
    provider: str = "default"
    """The name of a model provider configured for this guru (`admin_provider_set`)."""
    model: str | None = None
    """Overrides the provider's model for this agent."""
    output_schema: dict[str, Any] | None = None
    """When given, the final answer must be JSON valid against this JSON Schema."""
    max_tool_calls: int = Field(default=10, ge=1, le=MAX_AGENT_TOOL_CALLS)
    max_depth: int = Field(default=5, ge=1, le=MAX_AGENT_DEPTH)
    """How deep runs started under this agent may nest (its own tools run at depth 1)."""
    timeout: float | None = Field(default=None, gt=0)
    """For the whole loop, model calls and tool runs together."""

    @field_validator("system_prompt")
    @classmethod
    def _check_prompt(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("system_prompt is empty")
        return value

    @field_validator("tools")
    @classmethod
    def _check_tools(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("an agent needs at least one tool")
        for name in value:
            if not ACTION_NAME_RE.fullmatch(name):
                raise ValueError(f"{name!r} is not an action name")
        dupes = sorted({n for n in value if value.count(n) > 1})
        if dupes:
            raise ValueError(f"listed more than once: {', '.join(dupes)}")
        return value

    @field_validator("output_schema")
    @classmethod
    def _check_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"output_schema is not a valid JSON Schema: {exc.message}") from None
        return value


AGENT_DEFAULT_PARAMETERS = [
    {
        "name": "request",
        "type": "string",
        "required": True,
        "description": "What the agent should do, in the user's words, with every detail it needs.",
    }
]
"""An agent defined without parameters takes one: the request in plain words."""


class ScheduleSpec(BaseModel):
    """A cron schedule carried with an action (validated in depth by the scheduler)."""

    model_config = ConfigDict(extra="ignore")

    cron: str
    timezone: str = "UTC"
    enabled: bool = True
    arguments: dict[str, Any] = Field(default_factory=dict)
    overlap: Literal["skip", "allow"] = "skip"
    misfire: Literal["run_once", "skip"] = "run_once"


class Annotations(BaseModel):
    """Hints for clients about what an action does; each one left out keeps its default
    (`ActionSpec.hints`)."""

    model_config = ConfigDict(extra="forbid")

    read_only: bool | None = None
    destructive: bool | None = None
    idempotent: bool | None = None
    open_world: bool | None = None


class IconSpec(BaseModel):
    """An icon a client may show beside the tool: an `https:` or `data:` URI."""

    model_config = ConfigDict(extra="forbid")

    src: str
    mime_type: str | None = None
    sizes: list[str] | None = None

    @field_validator("src")
    @classmethod
    def _check_src(cls, value: str) -> str:
        if not value.startswith(("https://", "data:image/")):
            raise ValueError("an icon's src must be an https:// URL or a data:image/... URI")
        if len(value) > 64 * 1024:
            raise ValueError("an icon's src may be at most 64 kB")
        return value


def _check_output_schema(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    from jsonschema import Draft202012Validator, SchemaError

    if value.get("type") != "object":
        raise ValueError('the output schema must describe an object ("type": "object" at its root)')
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "root"
        raise ValueError(f"not a valid JSON Schema (at {where}): {exc.message}") from None
    return value


class ActionSpec(BaseModel):
    """An action definition, as an admin writes it and as it is exported."""

    model_config = ConfigDict(extra="ignore")

    name: str
    title: str = ""
    condition_prompt: str = ""
    instructions: str = ""
    action_type: ActionType
    parameters: list[Parameter] = Field(default_factory=list)
    config: ApiCallConfig | PythonCodeConfig | AgentConfig
    enabled: bool = True
    secrets: list[str] = Field(default_factory=list)
    """Secret names a Python action reads (API-call actions name theirs as placeholders)."""
    schedule: ScheduleSpec | None = None
    groups: list[str] | None = None
    """The groups whose members may see and call this action's tool; absent means everyone."""
    output_schema: dict[str, Any] | None = None
    """JSON Schema (an object) of the structured result: an API call's response body, or the JSON
    document a Python action prints as its last line of output. Results are checked against it."""
    confirm: bool | None = None
    """Ask the user before each run (through MCP elicitation). Default: yes for DELETE calls."""
    annotations: Annotations | None = None
    icons: list[IconSpec] | None = None

    @field_validator("groups")
    @classmethod
    def _check_groups(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if any(not g.strip() or "," in g for g in value):
            raise ValueError("group names must be non-empty and hold no commas")
        return sorted({g.strip() for g in value}) or None

    def visible_to(self, caller: Caller) -> bool:
        """Whether the caller's groups allow them to see and call this action."""
        return not self.groups or not set(self.groups).isdisjoint(caller.groups)

    @field_validator("output_schema")
    @classmethod
    def _valid_output_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_output_schema(value)

    @field_validator("action_type", mode="before")
    @classmethod
    def _upper_type(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not ACTION_NAME_RE.fullmatch(value):
            raise ValueError(
                f"use lowercase letters, digits and underscores, at most 64 characters (e.g. {slugify(value)!r})"
            )
        if value.startswith("admin_"):
            raise ValueError("names starting with 'admin_' are reserved for admin tools")
        return value

    @field_validator("secrets")
    @classmethod
    def _check_secrets(cls, value: list[str]) -> list[str]:
        for name in value:
            problem = secret_name_problem(name)
            if problem:
                raise ValueError(problem)
            if name in BUILTIN_VARIABLES:
                raise ValueError(f"{name} is a reserved built-in variable name")
        return sorted(set(value))

    @model_validator(mode="before")
    @classmethod
    def _config_by_type(cls, data: Any) -> Any:
        if isinstance(data, dict):
            kind = str(data.get("action_type", "")).strip().upper()
            config = data.get("config")
            if isinstance(config, dict) and kind in ActionType.__members__:
                data = {**data, "config": CONFIG_MODELS[ActionType(kind)].model_validate(config)}
            if kind == ActionType.AGENT and not data.get("parameters"):
                data = {**data, "parameters": AGENT_DEFAULT_PARAMETERS}
        return data

    @model_validator(mode="after")
    def _check_whole(self) -> ActionSpec:
        names = [p.name for p in self.parameters]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate parameter names: {', '.join(dupes)}")
        clash = sorted(set(names) & set(self.secrets))
        if clash:
            raise ValueError(f"names used both as parameter and secret: {', '.join(clash)}")
        expected = CONFIG_MODELS[self.action_type]
        if not isinstance(self.config, expected):
            raise ValueError(f"config does not match action_type {self.action_type.value}")
        return self

    @property
    def display_title(self) -> str:
        return self.title or self.name.replace("_", " ").capitalize()

    @property
    def method(self) -> str | None:
        return self.config.method if isinstance(self.config, ApiCallConfig) else None

    @property
    def needs_confirmation(self) -> bool:
        """Whether a call must be confirmed by the user first: `confirm`, else DELETE calls."""
        return self.confirm if self.confirm is not None else self.method == "DELETE"

    def hints(self) -> Annotations:
        """The tool annotations: the action's own, else derived from its method (a GET is read-only,
        a DELETE destructive, GET/PUT/DELETE idempotent; Python actions: not read-only, unknown
        otherwise); every action reaches the outside world unless it says otherwise."""
        method = self.method
        own = self.annotations or Annotations()
        return Annotations(
            read_only=own.read_only if own.read_only is not None else method == "GET",
            destructive=own.destructive
            if own.destructive is not None
            else (method == "DELETE" if method else None),
            idempotent=own.idempotent
            if own.idempotent is not None
            else (method in ("GET", "PUT", "DELETE") if method else None),
            open_world=own.open_world if own.open_world is not None else True,
        )

    def timeout(self, default: float, maximum: float) -> float:
        return min(self.config.timeout or default, maximum)

    def describe_for_model(self) -> str:
        """The tool description a model reads to decide when to call this action."""
        parts = []
        if self.condition_prompt:
            parts.append(f"Use when: {self.condition_prompt.strip()}")
        if self.instructions:
            parts.append(self.instructions.strip())
        if isinstance(self.config, ApiCallConfig):
            parts.append("Makes one HTTP request and returns JSON {success, status_code, data}.")
        elif isinstance(self.config, AgentConfig):
            parts.append(
                f"Runs an agent that works through several steps with these tools: {', '.join(self.config.tools)}; "
                "returns its final answer."
            )
        else:
            parts.append("Runs a Python script in a sandbox and returns what it prints.")
        if self.needs_confirmation:
            parts.append("The user is asked to confirm each call before it runs.")
        return "\n\n".join(parts)

    def input_schema(self) -> dict[str, Any]:
        """The JSON Schema of the tool's arguments."""
        return {
            "type": "object",
            "properties": {p.name: p.json_schema() for p in self.parameters},
            "required": [p.name for p in self.parameters if p.required and p.default is None],
            "additionalProperties": False,
        }

    def export(self) -> dict[str, Any]:
        """The JSON export: the Gurubase format plus our fields; secrets by name only."""
        data = self.model_dump(mode="json", exclude_none=True)
        if isinstance(self.config, ApiCallConfig):
            data["config"]["headers"] = [h.model_dump() for h in self.config.headers]
        if not data.get("schedule"):
            data.pop("schedule", None)
        return data

    def definition(self) -> dict[str, Any]:
        """The export without state: `enabled` and `schedule.enabled` are switched on and off without
        making a new version, so they are not part of what versions compare."""
        data = self.export()
        data.pop("enabled", None)
        if "schedule" in data:
            data["schedule"] = {k: v for k, v in data["schedule"].items() if k != "enabled"}
        return data


CONFIG_MODELS: dict[ActionType, type[BaseModel]] = {
    ActionType.PYTHON_CODE: PythonCodeConfig,
    ActionType.API_CALL: ApiCallConfig,
    ActionType.AGENT: AgentConfig,
}


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("ApiCallConfig", "PythonCodeConfig", "AgentConfig"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_spec(data: Any, *, where: str = "") -> ActionSpec:
    """Validate an action definition; every problem is reported with the field it concerns."""
    if not isinstance(data, dict):
        raise ValidationFailed("an action definition must be a JSON object", prefix=where)
    prefix = where or f"action {data.get('name', '?')!r}"
    errors: list[FieldError] = []
    kind = str(data.get("action_type", "")).strip().upper()
    config = data.get("config")
    if kind in ActionType.__members__ and isinstance(config, dict):
        model = CONFIG_MODELS[ActionType(kind)]
        try:
            data = {**data, "config": model.model_validate(config)}
        except ValidationError as exc:
            errors += _field_errors(exc, ("config",))
            data = {k: v for k, v in data.items() if k != "config"}
    try:
        spec = ActionSpec.model_validate(data)
    except ValidationError as exc:
        errors += [e for e in _field_errors(exc) if not (errors and e.field == "config")]
    if errors:
        raise ValidationFailed(errors, prefix=prefix)
    return spec


def _field_errors(exc: ValidationError, base: tuple[str, ...] = ()) -> list[FieldError]:
    return [
        FieldError(_loc((*base, *err["loc"])), err["msg"].removeprefix("Value error, "))
        for err in exc.errors()
    ]


class Caller(BaseModel):
    """Who is calling: from a static token, an OAuth access token, or the stdio configuration."""

    model_config = ConfigDict(frozen=True)

    key: str = "anonymous"
    """Stable identity of the real user for per-caller limits: `user:<email>` when the email is known,
    else the credential (`token:<id>`, `oauth:<issuer>#<sub>`), `stdio`, `schedule:<id>`."""
    email: str = ""
    name: str = ""
    groups: tuple[str, ...] = ()
    is_admin: bool = False
    """May use the admin tools of `guru`."""
    server_admin: bool = False
    """Admin of every guru: may also create, list and delete gurus."""
    guru: str = "default"
    via: str = ""
    """How the caller authenticated: `token`, `oauth`, `stdio`, `schedule`, ..."""
    subject: str = ""
    """The credential's stable id: the token id, or the OAuth issuer and subject."""

    def record(self) -> dict[str, Any]:
        """What a run record keeps of who called."""
        out: dict[str, Any] = {
            "key": self.key,
            "email": self.email,
            "name": self.name,
            "admin": self.is_admin,
        }
        if self.groups:
            out["groups"] = list(self.groups)
        if self.via:
            out["via"] = self.via
        if self.subject:
            out["subject"] = self.subject
        return out

    @property
    def who(self) -> str:
        """How changes made by this caller are attributed in version history."""
        return self.email or self.name or self.key

    def builtins(self) -> dict[str, str]:
        name = self.name or (self.email.split("@", 1)[0] if self.email else "")
        return {
            "GURUBASE_USER_EMAIL": self.email,
            "GURUBASE_USER_NAME": name,
            "GURUBASE_USER_GROUPS": ",".join(self.groups) if self.groups else "Everyone",
            "GURUBASE_GURU_SLUG": self.guru,
        }


class StoredAction(BaseModel):
    """An action as stored: its spec plus identity, version and state."""

    id: int
    guru: str
    spec: ActionSpec
    version: int
    """The definition's version: goes up with every change to the definition, never with state."""
    enabled: bool
    disabled_reason: str = ""
    created_at: datetime
    updated_at: datetime
    revision: int = 0
    """Goes up with every change, state included (enabling, pausing the schedule): what caches and
    schedule claims compare to know that what they read is still current."""

    @property
    def name(self) -> str:
        return self.spec.name


class Job(BaseModel):
    """What an executor needs to run one action: the spec and the resolved values. No I/O handles."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    run_id: str
    action: ActionSpec
    arguments: dict[str, Any]
    """Validated arguments with defaults applied, typed as in the schema."""
    builtins: dict[str, str]
    secrets: dict[str, str]
    """Only the secrets this action declares (Python `secrets`, API-call placeholders)."""
    secret_hosts: dict[str, list[str]] = Field(default_factory=dict)
    """For secrets limited to some hosts: the hosts (names, `*.suffix`, IPs) they may be sent to."""
    timeout: float
    guru: str = "default"
    caller: Caller = Field(default_factory=Caller)
    """Who asked: an agent's tool calls run with the same identity."""
    trigger: Trigger = Trigger.TOOL_CALL
    depth: int = 0
    """0 for a run started by a client or a schedule; an agent's tool calls run one deeper."""
    depth_limit: int | None = None
    """The deepest a run under this one may go (the strictest limit of the agents above it)."""
    mock_tools: dict[str, Any] | None = None
    """Test mode for agents: tool name -> the result to feed back instead of running the tool."""
    sampler: Any = None
    """The calling client's MCP session when it can sample (for agents using MCP sampling)."""

    def environment(self) -> dict[str, str]:
        """Environment variables for a Python action: arguments given (or defaulted) as text (see
        `env_text`), the built-in variables, the action's secrets, and `GURU_ARGS_JSON`: the
        arguments typed, as JSON (what the sandbox's `guru.args()` reads). Optional parameters with no
        value are left unset, so `os.environ.get(name, fallback)` works as scripts written for
        Gurubase expect."""
        env = {name: env_text(value) for name, value in self.arguments.items() if value is not None}
        env.update(self.builtins)
        env.update(self.secrets)
        typed = {name: value for name, value in self.arguments.items() if value is not None}
        env[ARGS_JSON_VARIABLE] = json.dumps(typed, ensure_ascii=False)
        return env


def env_text(value: Any) -> str:
    """How a typed argument is written into text (environment variables, URL and header placeholders):
    a boolean as `true`/`false`, a whole number without a decimal point (`3`, also for 3.0), any other
    number as Python writes it (`2.5`), a string as it is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class ExecResult(BaseModel):
    """What an executor returns. `data` is structured content for programs; `text` is for the model."""

    status: RunStatus
    text: str
    data: dict[str, Any] = Field(default_factory=dict)
    error: str = ""
    truncated: bool = False
    hosts: list[str] = Field(default_factory=list)
    """Hosts the run contacted (API-call target, sandbox egress)."""
    hosts_refused: list[str] = Field(default_factory=list)
    """Hosts the run tried to reach and the egress policy refused."""
    structured: dict[str, Any] | None = None
    """The result checked against the action's `output_schema` (only for actions that declare one)."""
    usage: dict[str, Any] = Field(default_factory=dict)
    """Model usage (agents only)."""


class RunRecord(BaseModel):
    id: str
    guru: str
    action_id: int | None
    action_name: str
    action_version: int | None
    trigger: Trigger
    caller: dict[str, Any]
    inputs: dict[str, Any]
    status: RunStatus
    output: str = ""
    truncated: bool = False
    error: str = ""
    hosts: list[str] = Field(default_factory=list)
    hosts_refused: list[str] = Field(default_factory=list)
    schedule_id: int | None = None
    due_at: datetime | None = None
    started_at: datetime
    ended_at: datetime | None = None
    duration_ms: float | None = None
    parent_run_id: str | None = None
    """The agent run that started this one as a tool call."""
    depth: int = 0
    usage: dict[str, Any] = Field(default_factory=dict)
    """Model usage of an agent run: model calls, input and output tokens, tool calls, stop reason."""


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


def parse_provider(data: dict[str, Any]) -> ModelProvider:
    """Validate a model provider's settings; every problem names its field."""
    try:
        return ModelProvider.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            _field_errors(exc), prefix=f"provider {data.get('name', 'default')!r}"
        ) from None
