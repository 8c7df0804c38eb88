"""Output schemas, structured content and per-action annotations, through an MCP client of either generation."""

import json

import pytest

from guru_mcp.errors import ValidationFailed
from guru_mcp.models import ExecResult, RunStatus, parse_spec
from guru_mcp.structured import apply_output_schema, validator_for
from tests.conftest import USER, api_action, connect

MODES = ["legacy", "2026-07-28"]

PTO_SCHEMA = {
    "type": "object",
    "properties": {
        "user": {"type": "string"},
        "remaining": {"type": "integer"},
        "last_used": {"type": "string"},
    },
    "required": ["user", "remaining"],
}


async def add(app, data):
    result = await app.catalog.save_spec("default", parse_spec(data))
    assert result.action.enabled, result.warnings
    return result.action


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_an_api_call_with_an_output_schema_returns_checked_structured_content(app, echo_server, mode):
    await add(
        app, api_action("pto", echo_server.url + "/pto?user={GURUBASE_USER_EMAIL}", output_schema=PTO_SCHEMA)
    )
    async with connect(app, USER, mode=mode) as client:
        (tool,) = (await client.list_tools()).tools
        result = await client.call_tool("pto", {})
    assert tool.output_schema == PTO_SCHEMA
    assert not result.is_error, result.content[0].text
    assert result.structured_content == {
        "user": "alex@corp.example",
        "remaining": 12,
        "last_used": "2026-03-03",
    }
    assert json.loads(result.content[0].text)["status_code"] == 200
    (run,) = await app.store.runs.list_runs("default")
    assert result.meta["guru-mcp/run_id"] == run.id and run.status is RunStatus.OK


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_a_remote_answer_that_breaks_the_schema_is_a_clear_error_naming_the_field(
    app, echo_server, mode
):
    schema = {**PTO_SCHEMA, "properties": {**PTO_SCHEMA["properties"], "remaining": {"type": "string"}}}
    await add(app, api_action("pto", echo_server.url + "/pto?user=x", output_schema=schema))
    async with connect(app, USER, mode=mode) as client:
        await client.list_tools()
        result = await client.call_tool("pto", {})
    assert result.is_error
    text = result.content[0].text
    assert "does not match the output schema" in text and "remaining: 12 is not of type 'string'" in text
    (run,) = await app.store.runs.list_runs("default")
    assert run.status is RunStatus.ERROR and "remaining" in run.error


@pytest.mark.anyio
async def test_without_a_schema_results_are_as_before(app, echo_server):
    await add(app, api_action("pto", echo_server.url + "/pto?user=x"))
    async with connect(app, USER) as client:
        (tool,) = (await client.list_tools()).tools
        result = await client.call_tool("pto", {})
    assert tool.output_schema is None
    assert result.structured_content["success"] is True and result.structured_content["status_code"] == 200
    assert "run_id" in result.structured_content


def python_result(stdout: str) -> ExecResult:
    data = {"success": True, "output": stdout, "exit_code": 0, "truncated": False, "stderr": ""}
    return ExecResult(status=RunStatus.OK, text=stdout, data=data)


def python_spec(schema):
    return parse_spec(
        {"name": "py", "action_type": "PYTHON_CODE", "config": {"code": "print(1)"}, "output_schema": schema}
    )


def test_a_python_action_returns_the_json_document_on_its_last_line():
    spec = python_spec(PTO_SCHEMA)
    out = apply_output_schema(
        spec, validator_for(spec), python_result('working...\n{"user": "a", "remaining": 3}\n\n')
    )
    assert out.status is RunStatus.OK and out.structured == {"user": "a", "remaining": 3}
    assert out.text.startswith("working...")


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        ("all done\n", "is not a JSON document"),
        ("", "the script printed nothing"),
        ('{"user": "a"}\n', "'remaining' is a required property"),
        (
            '{"user": 5, "remaining": "x"}\n',
            "remaining: 'x' is not of type 'integer'; user: 5 is not of type 'string'",
        ),
    ],
)
def test_a_python_action_whose_last_line_does_not_fit_fails_clearly(stdout, expected):
    spec = python_spec(PTO_SCHEMA)
    out = apply_output_schema(spec, validator_for(spec), python_result(stdout))
    assert out.status is RunStatus.ERROR and out.structured is None
    assert expected in out.error and "last line" in out.error


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "array"}, "must describe an object"),
        ({"type": "object", "properties": {"a": {"type": "nope"}}}, "not a valid JSON Schema"),
    ],
)
def test_an_output_schema_must_be_a_valid_object_schema(schema, expected):
    with pytest.raises(ValidationFailed, match=expected) as caught:
        python_spec(schema)
    assert "output_schema" in str(caught.value)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_annotations_title_and_icons_from_the_json_reach_tools_list(app, echo_server, mode):
    icon = {"src": "https://example.com/pto.png", "mime_type": "image/png", "sizes": ["48x48"]}
    await add(
        app,
        api_action(
            "pto_post",
            echo_server.url + "/pto",
            method="POST",
            title="Book PTO",
            annotations={"idempotent": True, "open_world": False},
            icons=[icon],
        ),
    )
    await add(
        app,
        {
            "name": "summary",
            "action_type": "PYTHON_CODE",
            "config": {"code": "print(1)"},
            "annotations": {"read_only": True, "destructive": False},
        },
    )
    await add(app, api_action("fetch", echo_server.url + "/x"))
    async with connect(app, USER, mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    post, summary, fetch = tools["pto_post"], tools["summary"], tools["fetch"]
    assert post.title == "Book PTO" and post.annotations.title == "Book PTO"
    assert post.annotations.idempotent_hint is True and post.annotations.open_world_hint is False
    assert post.annotations.read_only_hint is False  # the default of a POST stays
    assert [(i.src, i.mime_type, i.sizes) for i in post.icons] == [(icon["src"], "image/png", ["48x48"])]
    assert summary.annotations.read_only_hint is True and summary.annotations.destructive_hint is False
    assert summary.annotations.open_world_hint is True
    assert fetch.annotations.read_only_hint is True and fetch.icons is None


def test_unknown_annotations_and_unsafe_icons_are_refused():
    base = {"name": "a", "action_type": "PYTHON_CODE", "config": {"code": "print(1)"}}
    with pytest.raises(ValidationFailed, match=r"annotations\.readonly"):
        parse_spec({**base, "annotations": {"readonly": True}})
    with pytest.raises(ValidationFailed, match="https:// URL"):
        parse_spec({**base, "icons": [{"src": "javascript:alert(1)"}]})


def test_the_new_fields_survive_export_and_stay_out_of_it_when_unset():
    bare = parse_spec({"name": "a", "action_type": "PYTHON_CODE", "config": {"code": "print(1)"}}).export()
    assert not {"output_schema", "confirm", "annotations", "icons"} & set(bare)
    full = {
        "name": "a",
        "action_type": "PYTHON_CODE",
        "config": {"code": "print(1)"},
        "confirm": True,
        "output_schema": PTO_SCHEMA,
        "annotations": {"read_only": True},
        "icons": [{"src": "https://x.example/i.png"}],
    }
    again = parse_spec(parse_spec(full).export())
    assert again.confirm is True and again.output_schema == PTO_SCHEMA
    assert again.annotations.read_only is True and again.icons[0].src == "https://x.example/i.png"
