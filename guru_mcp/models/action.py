"""An action definition (`ActionSpec`): the canonical form of an action, and its JSON form.

Its JSON form is the Gurubase export format (`name`, `condition_prompt`, `action_type`, `parameters`,
`config`) plus our own optional fields (`title`, `instructions`, `enabled`, `secrets`, `schedule`,
...), so a Gurubase export imports as-is. `config` is a discriminated union (`ActionConfig`): the
action's `action_type` picks the one config model that validates it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from guru_mcp.models.agent import AGENT_DEFAULT_PARAMETERS, AgentConfig
from guru_mcp.models.api_call import ApiCallConfig
from guru_mcp.models.common import ACTION_NAME_RE, BUILTIN_VARIABLES, ActionType, slugify
from guru_mcp.models.parameters import Parameter
from guru_mcp.models.python_code import PythonCodeConfig
from guru_mcp.save_checks import secret_name_problem

if TYPE_CHECKING:
    from guru_mcp.models.caller import Caller

CONFIG_TAG = "action_type"
"""The key under which `ActionSpec` hands its `action_type` to the config union (config models ignore
it: it is not a field of theirs, and it is never exported)."""


def config_kind(value: Any) -> str | None:
    """The union's discriminator: the action type a config is for. A mapping carries its action's type
    (put there by `ActionSpec`); a config model knows its own (`KIND`); anything else has none."""
    if isinstance(value, dict):
        kind = value.get(CONFIG_TAG)
        return kind if isinstance(kind, str) else None
    kind = getattr(type(value), "KIND", None)
    return kind.value if isinstance(kind, ActionType) else None


CONFIG_NOT_AN_OBJECT = "config_not_an_object"
"""The error type of a config that is no JSON object (or whose action has no valid `action_type`)."""

ActionConfig = Annotated[
    Annotated[PythonCodeConfig, Tag(PythonCodeConfig.KIND.value)]
    | Annotated[ApiCallConfig, Tag(ApiCallConfig.KIND.value)]
    | Annotated[AgentConfig, Tag(AgentConfig.KIND.value)],
    Discriminator(
        config_kind,
        custom_error_type=CONFIG_NOT_AN_OBJECT,
        custom_error_message="Input should be a JSON object",
    ),
]
"""The config of an action, one model per action type."""


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
    config: ActionConfig
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
        """Hands the action's type to the config union (a mapping gets it under `CONFIG_TAG`), and
        gives an agent without parameters its one default parameter."""
        if isinstance(data, dict):
            kind = str(data.get("action_type", "")).strip().upper()
            config = data.get("config")
            if isinstance(config, dict):
                tagged = {k: v for k, v in config.items() if k != CONFIG_TAG}
                if kind in ActionType.__members__:
                    tagged[CONFIG_TAG] = kind
                data = {**data, "config": tagged}
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
        if config_kind(self.config) != self.action_type:  # a config model given for another type
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
