"""How each parameter type reaches a Python action: as text in the environment (documented in the
README), and typed through `guru.args()` from the sandbox's helper module."""

from __future__ import annotations

import json

import pytest

from guru_mcp.app import open_app
from guru_mcp.models import ActionType, Job, env_text, parse_spec
from tests.conftest import ADMIN, connect
from tests.executors.conftest import docker_api, sandbox_image  # noqa: F401  (fail under CI without Docker)

CODE = (
    "import json, os\n"
    "import guru\n"
    "names = ['city', 'days', 'ratio', 'notify', 'urgent', 'note']\n"
    "print(json.dumps({'env': {n: os.environ.get(n) for n in names}, 'typed': guru.args(),\n"
    "                  'one': guru.arg('note', 'no note'), 'user': guru.user()}))\n"
)
ACTION = {
    "name": "types_probe",
    "action_type": "PYTHON_CODE",
    "parameters": [
        {"name": "city", "type": "string", "required": True},
        {"name": "days", "type": "number", "default": 3},
        {"name": "ratio", "type": "number", "required": True},
        {"name": "notify", "type": "boolean", "default": False},
        {"name": "urgent", "type": "boolean", "required": True},
        {"name": "note", "type": "string", "required": False},
    ],
    "config": {"code": CODE},
}


def test_the_text_form_of_each_type():
    assert [env_text(v) for v in (True, False, 3, 3.0, 2.5, -0.125, "Zürich", "")] == [
        "true",
        "false",
        "3",
        "3",
        "2.5",
        "-0.125",
        "Zürich",
        "",
    ]
    job = Job(
        run_id="r",
        action=parse_spec(ACTION),
        arguments={"city": "Oslo", "days": 2.0, "urgent": True, "note": None},
        builtins={},
        secrets={"S": "secret-value-1"},
        timeout=5,
    )
    env = job.environment()
    assert env["days"] == "2" and env["urgent"] == "true" and "note" not in env
    assert json.loads(env["GURU_ARGS_JSON"]) == {"city": "Oslo", "days": 2.0, "urgent": True}
    assert "secret-value-1" not in env["GURU_ARGS_JSON"]


@pytest.mark.docker
@pytest.mark.anyio
async def test_parameters_arrive_as_text_in_the_environment_and_typed_through_guru_args(
    settings, sandbox_image
):
    settings = settings.model_copy(
        update={
            "sandbox_enabled": True,
            "sandbox_image": sandbox_image,
            "sandbox_pool_size": 1,
            "sandbox_preimport": [],
        }
    )
    assert parse_spec(ACTION).action_type is ActionType.PYTHON_CODE
    async with open_app(settings) as app, connect(app, ADMIN) as client:
        created = await client.call_tool("admin_action_create", {"action": ACTION})
        assert not created.is_error, created.content[0].text
        result = await client.call_tool("types_probe", {"city": "Zürich", "ratio": 2.5, "urgent": True})
    assert not result.is_error, result.content[0].text
    seen = json.loads(result.content[0].text)
    assert seen["env"] == {
        "city": "Zürich",
        "days": "3",
        "ratio": "2.5",
        "notify": "false",
        "urgent": "true",
        "note": None,
    }
    assert seen["typed"] == {"city": "Zürich", "days": 3, "ratio": 2.5, "notify": False, "urgent": True}
    assert seen["one"] == "no note"
    assert seen["user"] == {"email": "ada@corp.example", "name": "Ada", "groups": ["ops"], "guru": "default"}
