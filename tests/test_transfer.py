import json
from pathlib import Path

import pytest

from guru_mcp.errors import ValidationFailed
from guru_mcp.transfer import export_actions, import_actions
from tests.conftest import ADMIN, connect

ACTIONS = Path(__file__).resolve().parents[1] / "actions"
PTO = ["pto_balance_lookup.json", "submit_pto_request.json", "notify_manager.json"]


async def set_pto_secrets(app, base="https://hr.example.com"):
    for name, value in {
        "HR_API_URL": base,
        "HR_API_TOKEN": "hr-token-123456",
        "CHAT_API_URL": base,
        "CHAT_BOT_TOKEN": "chat-token-123456",
    }.items():
        await app.vault.put("default", name, value)


@pytest.mark.anyio
async def test_the_pto_examples_import_unchanged_and_become_tools_with_the_right_schemas(app):
    await set_pto_secrets(app)
    for name in PTO:
        report = await import_actions(app.catalog, "default", (ACTIONS / name).read_bytes())
        assert report["actions"][0]["change"] == "create"
    async with connect(app) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {"pto_balance_lookup", "submit_pto_request", "notify_manager"} <= set(tools)
    submit = tools["submit_pto_request"].input_schema
    assert submit["required"] == ["start_date", "end_date"]
    assert submit["properties"]["note"] == {
        "type": "string",
        "description": "Optional note for the approver.",
    }
    assert tools["notify_manager"].input_schema["properties"]["days"]["type"] == "number"
    assert tools["pto_balance_lookup"].input_schema["properties"] == {}
    assert tools["submit_pto_request"].annotations.read_only_hint is False
    assert "book specific days off" in tools["submit_pto_request"].description


@pytest.mark.anyio
async def test_actions_with_missing_secrets_are_stored_disabled_and_say_which(app):
    report = await import_actions(app.catalog, "default", (ACTIONS / "submit_pto_request.json").read_bytes())
    row = report["actions"][0]
    assert row["enabled"] is False
    assert row["missing_secrets"] == ["HR_API_TOKEN", "HR_API_URL"]
    action = await app.catalog.get("default", "submit_pto_request")
    assert "missing secrets" in action.disabled_reason


@pytest.mark.anyio
async def test_export_round_trips_without_loss(app):
    await set_pto_secrets(app)
    originals = [json.loads((ACTIONS / n).read_text()) for n in PTO]
    await import_actions(app.catalog, "default", json.dumps(originals))
    exported = await export_actions(app.catalog, "default")
    assert {a["name"] for a in exported} == {o["name"] for o in originals}
    for original in originals:
        out = next(a for a in exported if a["name"] == original["name"])
        for key in ("condition_prompt", "action_type", "parameters"):
            assert out[key] == original[key] or key == "parameters"
        assert out["config"]["endpoint" if original["action_type"] == "API_CALL" else "code"] == original[
            "config"
        ].get("endpoint", original["config"].get("code"))
    report = await import_actions(app.catalog, "default", json.dumps(exported), dry_run=True)
    assert {r["change"] for r in report["actions"]} == {"unchanged"}


@pytest.mark.anyio
async def test_a_dry_run_reports_and_changes_nothing(app):
    await set_pto_secrets(app)
    doc = (ACTIONS / "notify_manager.json").read_text()
    report = await import_actions(app.catalog, "default", doc, dry_run=True)
    assert report["dry_run"] and report["actions"][0]["change"] == "create"
    assert await app.catalog.list_actions("default") == []
    await import_actions(app.catalog, "default", doc)
    changed = json.loads(doc)
    changed["condition_prompt"] = "something else"
    report = await import_actions(app.catalog, "default", json.dumps(changed), dry_run=True)
    assert report["actions"][0]["change"] == "update"
    assert (await app.catalog.get("default", "notify_manager")).spec.condition_prompt != "something else"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "no actions"),
        ("[1, 2]", "each action must be a JSON object"),
        ('{"name": "x", "action_type": "API_CALL"}', "config"),
        (
            '{"name": "x", "action_type": "API_CALL", "config": {"endpoint": "https://a.example/{who}"}}',
            "{who} names no",
        ),
        (
            '[{"name": "x", "action_type": "PYTHON_CODE", "config": {"code": "print(1)"}},'
            ' {"name": "x", "action_type": "PYTHON_CODE", "config": {"code": "print(2)"}}]',
            "more than once",
        ),
        ('{"name": "x", "action_type": "PYTHON_CODE", "config": {"code": "def ("}}', "syntax error"),
        (
            '{"name": "x", "action_type": "API_CALL", "parameters": [{"name": "GURUBASE_GURU_SLUG"}],'
            ' "config": {"endpoint": "https://a.example/"}}',
            "reserved",
        ),
    ],
)
@pytest.mark.anyio
async def test_malformed_imports_are_refused_whole_with_a_clear_error(app, document, expected):
    good = '{"name": "good_one", "action_type": "PYTHON_CODE", "config": {"code": "print(1)"}}'
    doc = f"[{good}, {document}]" if document.startswith("{") and document != "{not json" else document
    with pytest.raises(ValidationFailed) as err:
        await import_actions(app.catalog, "default", doc)
    assert expected in str(err.value)
    assert await app.catalog.list_actions("default") == []


@pytest.mark.anyio
async def test_gurubase_human_names_are_imported_under_a_tool_safe_name(app):
    doc = '{"name": "Get Weather Data", "action_type": "PYTHON_CODE", "config": {"code": "print(1)"}}'
    report = await import_actions(app.catalog, "default", doc)
    assert report["actions"][0]["name"] == "get_weather_data"
    assert (await app.catalog.get("default", "get_weather_data")).spec.title == "Get Weather Data"


@pytest.mark.anyio
async def test_the_admin_import_tool_takes_a_document(app):
    doc = json.loads((ACTIONS / "notify_manager.json").read_text())
    async with connect(app, ADMIN) as client:
        result = await client.call_tool("admin_import", {"document": [doc], "dry_run": True})
    assert not result.is_error
    assert result.structured_content["actions"][0]["change"] == "create"
