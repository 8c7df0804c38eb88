"""Mistakes caught at save, each said with the fix: undeclared secrets a Python action reads, "did you
mean" for near-miss names, and the upper-case naming rule for secrets."""

from __future__ import annotations

import pytest

from guru_mcp.errors import ValidationFailed
from guru_mcp.models import parse_spec
from guru_mcp.save_checks import env_reads, secret_name_problem
from tests.conftest import ADMIN, api_action, connect

VALUE = "tickets-key-0123456789"


def python_action(code: str, **extra) -> dict:
    return {"name": "probe", "action_type": "PYTHON_CODE", "config": {"code": code}, **extra}


async def save(app, data: dict):
    return await app.catalog.save_spec("default", parse_spec(data))


@pytest.mark.anyio
async def test_reading_an_existing_secret_without_declaring_it_is_saved_with_a_warning_naming_it(app):
    await app.vault.put("default", "TICKETS_API_KEY", VALUE)
    result = await save(app, python_action("import os\nprint(os.environ['TICKETS_API_KEY'])\n"))
    assert result.warnings == [
        "line 2 reads the secret TICKETS_API_KEY without declaring it, so the action will not receive it: "
        'add it to "secrets"'
    ]
    declared = await save(
        app, python_action("import os\nprint(os.environ['TICKETS_API_KEY'])\n", secrets=["TICKETS_API_KEY"])
    )
    assert declared.warnings == [] and declared.action.enabled


@pytest.mark.anyio
async def test_reading_a_secret_that_exists_nowhere_is_refused_with_the_nearest_name(app):
    await app.vault.put("default", "TICKETS_API_KEY", VALUE)
    with pytest.raises(ValidationFailed) as refused:
        await save(app, python_action("import os\n\nkey = os.environ['TICKETS_API_KEYY']\n"))
    [error] = refused.value.errors
    assert error.field == "config.code"
    assert error.message.startswith(
        "line 3 reads TICKETS_API_KEYY, which is no parameter, declared secret or built-in variable, and no "
        "secret of that name exists (did you mean TICKETS_API_KEY?)"
    )
    assert 'list it in "secrets"' in error.message
    assert await app.catalog.list_actions("default") == []  # nothing saved
    # With a fallback the code expects absence: saved, with a warning.
    result = await save(app, python_action("import os\nprint(os.getenv('TICKETS_API_KEYY', 'none'))\n"))
    assert result.action.enabled
    assert result.warnings == [
        "line 2 reads TICKETS_API_KEYY, which is no parameter, declared secret or built-in variable "
        "(did you mean TICKETS_API_KEY?); it will always get its fallback"
    ]
    # Declared but not set yet: stored disabled, and the near miss is pointed out.
    declared = await save(
        app, python_action("import os\nprint(os.environ['TICKETS_API_KEYY'])\n", secrets=["TICKETS_API_KEYY"])
    )
    assert not declared.action.enabled and declared.missing_secrets == ["TICKETS_API_KEYY"]
    assert (
        "secrets: no secret TICKETS_API_KEYY exists (did you mean TICKETS_API_KEY?); the action stays "
        "disabled until a secret TICKETS_API_KEYY is set"
    ) in declared.warnings


@pytest.mark.anyio
async def test_parameters_builtins_and_the_containers_own_variables_are_not_taken_for_secrets(app):
    code = (
        "import os\n"
        "print(os.environ['CITY'], os.environ['GURUBASE_USER_EMAIL'], os.environ['HOME'],\n"
        "      os.environ.get('HTTPS_PROXY'), os.environ['lower_case_thing'])\n"
    )
    result = await save(app, python_action(code, parameters=[{"name": "CITY"}]))
    assert result.warnings == [] and result.action.enabled


@pytest.mark.anyio
async def test_a_placeholder_typo_gets_did_you_mean_for_secrets_and_parameters(app):
    await app.vault.put("default", "TICKETS_API_KEY", VALUE)
    typo = api_action(
        "tickets",
        "https://tickets.example/api",
        headers=[{"key": "X-Api-Key", "value": "{TICKETS_API_KEYY}"}],
    )
    result = await save(app, typo)
    assert not result.action.enabled and result.missing_secrets == ["TICKETS_API_KEYY"]
    assert (
        "config.headers[0].value: no secret TICKETS_API_KEYY exists (did you mean TICKETS_API_KEY?); the "
        "action stays disabled until a secret TICKETS_API_KEYY is set"
    ) in result.warnings
    lower = api_action(
        "by_user", "https://tickets.example/api?user={user_emial}", parameters=[{"name": "user_email"}]
    )
    with pytest.raises(ValidationFailed) as refused:
        await save(app, lower)
    assert str(refused.value.errors[0]) == (
        "config.endpoint: {user_emial} names no parameter, built-in variable or secret (did you mean user_email?)"
    )
    # far from everything: no suggestion, the plain message
    with pytest.raises(ValidationFailed) as refused:
        await save(app, api_action("x", "https://tickets.example/{zzz}"))
    assert (
        str(refused.value.errors[0])
        == "config.endpoint: {zzz} names no parameter, built-in variable or secret"
    )


@pytest.mark.anyio
async def test_the_warnings_reach_the_admin_through_the_tool_and_the_import(app, tmp_path):
    await app.vault.put("default", "TICKETS_API_KEY", VALUE)
    async with connect(app, ADMIN) as client:
        created = await client.call_tool(
            "admin_action_create",
            {"action": python_action("import os\nprint(os.environ['TICKETS_API_KEY'])\n")},
        )
        refused = await client.call_tool(
            "admin_action_create",
            {"action": python_action("import os\nprint(os.environ['TICKETS_API_KEYY'])\n", name="other")},
        )
    assert created.structured_content["warnings"] == [
        "line 2 reads the secret TICKETS_API_KEY without declaring it, so the action will not receive it: "
        'add it to "secrets"'
    ]
    assert refused.is_error and "(did you mean TICKETS_API_KEY?)" in refused.content[0].text


def test_secret_names_are_upper_case_and_the_rule_is_said_with_a_suggestion():
    assert secret_name_problem("HR_API_TOKEN") is None and secret_name_problem("_X1") is None
    assert secret_name_problem("hr-api-token") == (
        "'hr-api-token': secret names are upper case: letters A-Z, digits and _, not starting with a digit, "
        "at most 128 (e.g. 'HR_API_TOKEN')"
    )
    assert "(e.g. '_1PASSWORD')" in secret_name_problem("1password")
    assert secret_name_problem("TOKEN\n") is not None
    with pytest.raises(ValidationFailed, match="secret names are upper case"):
        parse_spec(python_action("print(1)", secrets=["api_key"]))


@pytest.mark.anyio
async def test_setting_a_lower_case_secret_is_refused_naming_the_rule(app):
    with pytest.raises(ValidationFailed) as refused:
        await app.vault.put("default", "api_key", VALUE)
    assert str(refused.value.errors[0]) == (
        "name: 'api_key': secret names are upper case: letters A-Z, digits and _, not starting with a digit, "
        "at most 128 (e.g. 'API_KEY')"
    )
    assert await app.store.secrets.list_secrets("default") == []


def test_env_reads_finds_every_literal_form_with_its_line_and_fallback():
    code = (
        "import os\nfrom os import getenv\n"
        "a = os.environ['A']\n"
        "b = os.environ.get('B')\n"
        "c = os.getenv('C', 'x')\n"
        "d = getenv('D')\n"
        "e = os.environ.get('E', default='y')\n"
        "f = os.environ[name]\n"
    )
    found = {(r.name, r.line, r.has_fallback) for r in env_reads(code)}
    assert found == {("A", 3, False), ("B", 4, False), ("C", 5, True), ("D", 6, False), ("E", 7, True)}
    assert env_reads("def (:\n") == []


def test_did_you_mean_with_shared_names_answers_as_one_search_over_all_of_them():
    """The names many checks share (built-ins, a guru's secrets) are searched once per name and
    remembered; the answer is still difflib's nearest match over every name."""
    import difflib
    import itertools

    from guru_mcp.models import BUILTIN_VARIABLES
    from guru_mcp.save_checks import did_you_mean

    secrets = frozenset(
        {"TICKETS_API_KEY", "ZENDESK_API_TOKEN", "ZENDESK_EMAIL", "HR_API_TOKEN", "STRIPE_KEY"}
    )
    shared = frozenset(BUILTIN_VARIABLES) | secrets
    params = [set(), {"ticket_id"}, {"user_email", "TICKETS_API_KEYS"}, {"ZENDESK_API_TOKEN"}]
    names = [
        "TICKETS_API_KEYY",
        "ZENDESK_API_TOKN",
        "ZENDESK_EMAIL",
        "user_emial",
        "GURUBASE_USER_EMAL",
        "ticket",
        "HR_API_TOKENS",
        "STRIPE_KEYS",
        "ZZZ",
        "",
    ]
    suggested = 0
    for name, own in itertools.product(names, params):
        close = difflib.get_close_matches(name, sorted((own | shared) - {name}), n=1, cutoff=0.75)
        expected = f" (did you mean {close[0]}?)" if close else ""
        suggested += bool(close)
        assert did_you_mean(name, own | shared, shared) == expected, (name, own)
        assert did_you_mean(name, own, shared) == expected, (name, own)
        assert did_you_mean(name, own | shared) == expected, (name, own)
    assert suggested > 10
