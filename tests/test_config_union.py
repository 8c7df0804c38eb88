"""The config of an action is one discriminated union: `action_type` picks the model, and the errors
users see name fields, not union members."""

from __future__ import annotations

import pytest

from guru_mcp.errors import ValidationFailed
from guru_mcp.models import (
    ActionSpec,
    AgentConfig,
    ApiCallConfig,
    PythonCodeConfig,
    config_kind,
    parse_spec,
)

PY = {"name": "p", "action_type": "PYTHON_CODE", "config": {"code": "print(1)"}}


@pytest.mark.parametrize("config", ["print(1)", [], None, 5])
def test_a_config_that_is_no_object_gets_one_line(config):
    with pytest.raises(ValidationFailed) as err:
        parse_spec({**PY, "config": config})
    assert str(err.value) == "action 'p': config: Input should be a JSON object"


@pytest.mark.parametrize("kind", ["SHELL", "", 5])
def test_an_unknown_action_type_is_the_one_problem_named(kind):
    with pytest.raises(ValidationFailed) as err:
        parse_spec({"name": "a", "action_type": kind, "config": {}})
    assert [e.field for e in err.value.errors] == ["action_type"]


def test_the_action_type_picks_the_model_and_errors_carry_no_union_tag():
    # A config with both an endpoint and code is whatever its action says, not the first model that fits.
    both = {"endpoint": "https://a.example/", "code": "print(1)"}
    assert type(parse_spec({**PY, "config": both}).config) is PythonCodeConfig
    assert type(parse_spec({**PY, "action_type": "api_call", "config": both}).config) is ApiCallConfig
    with pytest.raises(ValidationFailed) as err:
        parse_spec({"name": "a", "action_type": "API_CALL", "config": {"endpoint": "ftp://x"}, "title": 5})
    assert [e.field for e in err.value.errors] == ["config.endpoint", "title"]


def test_the_tag_is_not_exported_and_a_stored_spec_loads_back():
    spec = parse_spec({**PY, "config": {"code": "print(1)", "action_type": "API_CALL"}})
    assert "action_type" not in spec.export()["config"]
    assert ActionSpec.model_validate_json(spec.model_dump_json()) == spec
    assert ActionSpec.model_validate(spec.export()) == spec


def test_a_config_model_for_another_type_is_refused():
    with pytest.raises(ValueError, match="config does not match action_type API_CALL"):
        ActionSpec.model_validate(
            {"name": "a", "action_type": "API_CALL", "config": PythonCodeConfig(code="x")}
        )


def test_each_config_model_names_its_kind():
    assert config_kind(ApiCallConfig(endpoint="https://a.example/")) == "API_CALL"
    assert config_kind(AgentConfig(system_prompt="x", tools=["a"])) == "AGENT"
    assert config_kind({"action_type": "PYTHON_CODE"}) == "PYTHON_CODE"
    assert config_kind("print(1)") is None
