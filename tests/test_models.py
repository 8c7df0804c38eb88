import pytest

from guru_mcp.errors import ValidationFailed
from guru_mcp.models import Caller, parse_spec
from tests.conftest import api_action


def fields_of(exc: ValidationFailed) -> dict[str, str]:
    return {e.field: e.message for e in exc.errors}


def test_a_valid_api_action_gets_an_input_schema_from_its_parameters():
    spec = parse_spec(
        api_action(
            "weather",
            "https://api.example.com/w/{city}",
            parameters=[
                {"name": "city", "type": "String", "description": "City name", "required": True},
                {"name": "days", "type": "number", "default": "3"},
                {"name": "metric", "type": "boolean", "default": "true"},
            ],
        )
    )
    schema = spec.input_schema()
    assert schema["required"] == ["city"]
    assert schema["properties"]["days"] == {"type": "number", "default": 3}
    assert schema["properties"]["metric"]["default"] is True
    assert schema["properties"]["city"]["description"] == "City name"
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    ("name", "hint"),
    [("Get Weather", "get_weather"), ("x" * 65, "x" * 64), ("admin_thing", "reserved"), ("", "")],
)
def test_action_names_must_be_tool_safe(name, hint):
    with pytest.raises(ValidationFailed) as err:
        parse_spec(api_action(name, "https://a.example/"))
    assert "name" in fields_of(err.value)
    assert hint in fields_of(err.value)["name"]


@pytest.mark.parametrize(
    "reserved", ["GURUBASE_USER_EMAIL", "GURUBASE_USER_NAME", "GURUBASE_USER_GROUPS", "GURUBASE_GURU_SLUG"]
)
def test_reserved_names_are_refused_for_parameters_and_secrets(reserved):
    with pytest.raises(ValidationFailed) as err:
        parse_spec(api_action("a", "https://a.example/", parameters=[{"name": reserved}]))
    assert "reserved" in str(err.value) and "parameters[0].name" in fields_of(err.value)
    with pytest.raises(ValidationFailed) as err:
        parse_spec(
            {"name": "p", "action_type": "PYTHON_CODE", "config": {"code": "print(1)"}, "secrets": [reserved]}
        )
    assert "reserved" in str(err.value)


def test_parameter_names_are_letters_and_underscores_and_unique():
    with pytest.raises(ValidationFailed) as err:
        parse_spec(api_action("a", "https://a.example/", parameters=[{"name": "user-id"}]))
    assert "parameters[0].name" in fields_of(err.value)
    with pytest.raises(ValidationFailed, match="duplicate parameter names: x"):
        parse_spec(api_action("a", "https://a.example/", parameters=[{"name": "x"}, {"name": "x"}]))


def test_a_name_used_as_parameter_and_secret_is_refused():
    with pytest.raises(ValidationFailed, match="both as parameter and secret: TOKEN"):
        parse_spec(
            {
                "name": "p",
                "action_type": "PYTHON_CODE",
                "parameters": [{"name": "TOKEN"}],
                "secrets": ["TOKEN"],
                "config": {"code": "print(1)"},
            }
        )


def test_typed_defaults_are_checked():
    with pytest.raises(ValidationFailed, match="not a number"):
        parse_spec(
            api_action(
                "a", "https://a.example/", parameters=[{"name": "n", "type": "number", "default": "lots"}]
            )
        )
    with pytest.raises(ValidationFailed, match="not a boolean"):
        parse_spec(
            api_action(
                "a", "https://a.example/", parameters=[{"name": "b", "type": "boolean", "default": "maybe"}]
            )
        )


def test_api_call_method_endpoint_headers_and_body_are_checked():
    cases = [
        (api_action("a", "https://a.example/", method="FETCH"), "config.method"),
        (api_action("a", "ftp://a.example/"), "config.endpoint"),
        (
            api_action("a", "https://a.example/", headers=[{"key": "Bad Header", "value": "x"}]),
            "config.headers[0].key",
        ),
        (
            api_action("a", "https://a.example/", headers=[{"key": "X", "value": "a\r\nInjected: 1"}]),
            "config.headers[0].value",
        ),
        (api_action("a", "https://a.example/", method="POST", body="{not json"), "config.body"),
    ]
    for data, field in cases:
        with pytest.raises(ValidationFailed) as err:
            parse_spec(data)
        assert field in fields_of(err.value), (field, err.value)


def test_a_config_that_does_not_match_the_action_type_is_refused():
    with pytest.raises(ValidationFailed):
        parse_spec({"name": "a", "action_type": "PYTHON_CODE", "config": {"endpoint": "https://a.example/"}})
    with pytest.raises(ValidationFailed, match="action_type"):
        parse_spec({"name": "a", "action_type": "SHELL", "config": {}})


def test_builtins_follow_the_seed_for_unknown_users():
    assert Caller(guru="acme").builtins() == {
        "GURUBASE_USER_EMAIL": "",
        "GURUBASE_USER_NAME": "",
        "GURUBASE_USER_GROUPS": "Everyone",
        "GURUBASE_GURU_SLUG": "acme",
    }
    named = Caller(email="alex@corp.example", groups=("hr", "eng")).builtins()
    assert named["GURUBASE_USER_NAME"] == "alex"
    assert named["GURUBASE_USER_GROUPS"] == "hr,eng"
