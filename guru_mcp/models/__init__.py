"""Pure data models: action definitions, callers, jobs, results, run records. No I/O here.

One module per responsibility; every name is re-exported here, so `from guru_mcp.models import X` is
the way to use them:

- `common` — action and parameter types, triggers, name patterns, `slugify`
- `parameters` — `Parameter`, one input of an action
- `api_call`, `python_code`, `agent` — the config of each action type
- `action` — `ActionSpec` (the definition and its export format) with its config union `ActionConfig`
- `caller` — `Caller`, who is calling
- `records` — `StoredAction`, `Job`, `ExecResult`, `RunRecord`
- `provider` — `ModelProvider`, a language model agents use
- `parsing` — `parse_spec`, `parse_provider`: input documents to models, errors naming their fields
"""

from __future__ import annotations

from guru_mcp.models.action import ActionConfig, ActionSpec, Annotations, IconSpec, ScheduleSpec, config_kind
from guru_mcp.models.agent import AGENT_DEFAULT_PARAMETERS, MAX_AGENT_DEPTH, MAX_AGENT_TOOL_CALLS, AgentConfig
from guru_mcp.models.api_call import ApiCallConfig, Header
from guru_mcp.models.caller import Caller
from guru_mcp.models.common import (
    ACTION_NAME_RE,
    ARGS_JSON_VARIABLE,
    BUILTIN_VARIABLES,
    HEADER_NAME_RE,
    HTTP_METHODS,
    MIN_SECRET_LENGTH,
    PARAM_NAME_RE,
    PLACEHOLDER_RE,
    ActionType,
    ParamType,
    Trigger,
    slugify,
)
from guru_mcp.models.parameters import Parameter
from guru_mcp.models.parsing import parse_provider, parse_spec
from guru_mcp.models.provider import PROVIDER_NAME_RE, ModelProvider, ProviderKind
from guru_mcp.models.python_code import PythonCodeConfig
from guru_mcp.models.records import ExecResult, Job, RunRecord, StoredAction, env_text
from guru_mcp.run_status import RunStatus

__all__ = [
    "ACTION_NAME_RE",
    "AGENT_DEFAULT_PARAMETERS",
    "ARGS_JSON_VARIABLE",
    "BUILTIN_VARIABLES",
    "HEADER_NAME_RE",
    "HTTP_METHODS",
    "MAX_AGENT_DEPTH",
    "MAX_AGENT_TOOL_CALLS",
    "MIN_SECRET_LENGTH",
    "PARAM_NAME_RE",
    "PLACEHOLDER_RE",
    "PROVIDER_NAME_RE",
    "ActionConfig",
    "ActionSpec",
    "ActionType",
    "AgentConfig",
    "Annotations",
    "ApiCallConfig",
    "Caller",
    "ExecResult",
    "Header",
    "IconSpec",
    "Job",
    "ModelProvider",
    "ParamType",
    "Parameter",
    "ProviderKind",
    "PythonCodeConfig",
    "RunRecord",
    "RunStatus",
    "ScheduleSpec",
    "StoredAction",
    "Trigger",
    "config_kind",
    "env_text",
    "parse_provider",
    "parse_spec",
    "slugify",
]
