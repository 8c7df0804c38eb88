"""API-call actions under attack: redirects, secrets used as hosts, odd host spellings, secret scoping.

Each test reproduces a finding of an independent attack run against a real HTTP server on 127.0.0.1.
"""

import json

import pytest

from guru_mcp.app import open_app
from guru_mcp.models import RunStatus, parse_spec
from tests.conftest import USER, api_action, connect

KEY = "sk_live_0a1b2c3d4e5f"


async def add(app, data, secrets=None, hosts=None):
    for name, value in (secrets or {}).items():
        scoped = {"hosts": hosts[name]} if hosts and name in hosts else {}
        await app.vault.put("default", name, value, **scoped)
    result = await app.catalog.save_spec("default", parse_spec(data))
    assert result.action.enabled, result.warnings
    return result.action


async def only_run(app):
    runs = await app.store.runs.list_runs("default")
    assert len(runs) == 1, [r.status for r in runs]
    return runs[0]


def leaked(server, value: str) -> bool:
    return any(value in json.dumps(seen) for seen in server.requests)


# -- 1. redirects ----------------------------------------------------------------------------------


def key_action(name, url, **extra):
    return api_action(
        name,
        url,
        headers=[{"key": "X-Api-Key", "value": "{API_KEY}"}, {"key": "X-Plain", "value": "hello"}],
        **extra,
    )


@pytest.mark.anyio
async def test_a_cross_origin_redirect_is_refused_when_the_action_does_not_follow_redirects(
    app, echo_server, other_echo_server
):
    await add(
        app,
        key_action("hop", echo_server.url + "/redirect?to=" + other_echo_server.url + "/land"),
        {"API_KEY": KEY},
    )
    async with connect(app, USER) as client:
        result = await client.call_tool("hop", {})
    assert result.is_error
    text = result.content[0].text
    assert "another origin" in text and "follow_redirects" in text
    assert other_echo_server.requests == []
    assert echo_server.last()["headers"]["x-api-key"] == KEY
    run = await only_run(app)
    assert run.status is RunStatus.DENIED and KEY not in run.model_dump_json()


@pytest.mark.parametrize("code", [302, 307, 308])
@pytest.mark.anyio
async def test_a_followed_cross_origin_redirect_drops_every_header_and_body_holding_a_secret(
    app, echo_server, other_echo_server, code
):
    config_extra = {"method": "POST", "body": {"key": "{API_KEY}", "q": "plain"}}
    action = key_action(
        "hop", f"{echo_server.url}/redirect/{code}?to={other_echo_server.url}/land", **config_extra
    )
    action["config"]["follow_redirects"] = True
    action["config"]["headers"].append({"key": "Authorization", "value": "Bearer {API_KEY}"})
    await add(app, action, {"API_KEY": KEY})
    async with connect(app, USER) as client:
        result = await client.call_tool("hop", {})
    assert not result.is_error, result.content[0].text
    assert echo_server.last()["headers"]["x-api-key"] == KEY  # the first origin got what it was sent
    landed = other_echo_server.last()
    assert landed["path"] == "/land"
    assert "x-api-key" not in landed["headers"] and "authorization" not in landed["headers"]
    assert landed["headers"]["x-plain"] == "hello"
    assert landed["body"] == ""
    assert not leaked(other_echo_server, KEY)
    assert (await only_run(app)).hosts == ["127.0.0.1"]


@pytest.mark.anyio
async def test_a_same_origin_redirect_keeps_its_secret_headers(app, echo_server):
    await add(
        app,
        key_action("hop", echo_server.url + "/redirect?to=" + echo_server.url + "/land"),
        {"API_KEY": KEY},
    )
    async with connect(app, USER) as client:
        result = await client.call_tool("hop", {})
    assert not result.is_error, result.content[0].text
    assert echo_server.last()["path"] == "/land" and echo_server.last()["headers"]["x-api-key"] == KEY


@pytest.mark.anyio
async def test_follow_redirects_false_returns_the_redirect_itself(app, echo_server, other_echo_server):
    action = key_action("hop", echo_server.url + "/redirect?to=" + other_echo_server.url + "/land")
    action["config"]["follow_redirects"] = False
    await add(app, action, {"API_KEY": KEY})
    async with connect(app, USER) as client:
        result = await client.call_tool("hop", {})
    assert result.structured_content["status_code"] == 302
    assert other_echo_server.requests == []


# -- 2. a secret used as the host ------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_secret_used_as_the_host_is_masked_in_every_stored_field(settings, echo_server):
    settings = settings.model_copy(update={"egress_allow": ["127.0.0.1", "localhost"]})
    port = echo_server.url.rsplit(":", 1)[1]
    async with open_app(settings, sandbox=False) as app:
        await add(app, api_action("by_host", f"http://{{API_HOST}}:{port}/hi"), {"API_HOST": "localhost"})
        async with connect(app, USER) as client:
            result = await client.call_tool("by_host", {})
        assert not result.is_error, result.content[0].text
        run = await only_run(app)
        stored = await app.store.runs.get_run("default", run.id)
    assert run.hosts == ["[REDACTED]"] and stored.hosts == ["[REDACTED]"]
    assert "localhost" not in stored.model_dump_json()


# -- 8. unusual host spellings ---------------------------------------------------------------------

ODD_HOSTS = ["0177.0.0.2", "0x7f.0.0.1", "2130706433", "127.1", "0x7f000001", "127.0.0.01"]


@pytest.mark.parametrize("host", ODD_HOSTS)
@pytest.mark.anyio
async def test_a_templated_host_in_an_unusual_spelling_gets_a_clear_refusal(app, host):
    await add(app, api_action("odd", "http://{target}/x", parameters=[{"name": "target", "required": True}]))
    async with connect(app, USER) as client:
        result = await client.call_tool("odd", {"target": host})
    text = result.content[0].text
    assert result.is_error and "unusual spelling" in text and "internal error" not in text
    run = await only_run(app)
    assert run.status is RunStatus.DENIED and run.hosts_refused == [host]


@pytest.mark.parametrize("host", ODD_HOSTS)
@pytest.mark.anyio
async def test_a_fixed_endpoint_in_an_unusual_spelling_gets_the_same_refusal(app, echo_server, host):
    port = echo_server.url.rsplit(":", 1)[1]
    await add(app, api_action("odd", f"http://{host}:{port}/x"))
    async with connect(app, USER) as client:
        result = await client.call_tool("odd", {})
    assert result.is_error and "unusual spelling" in result.content[0].text
    assert echo_server.requests == []


@pytest.mark.anyio
async def test_a_redirect_to_an_unusual_spelling_gets_the_same_refusal(app, echo_server):
    port = echo_server.url.rsplit(":", 1)[1]
    await add(app, api_action("odd", f"{echo_server.url}/redirect?to=http://0177.0.0.1:{port}/x"))
    async with connect(app, USER) as client:
        result = await client.call_tool("odd", {})
    assert result.is_error and "unusual spelling" in result.content[0].text
    assert [r["path"] for r in echo_server.requests] == ["/redirect"]


# -- 9. secrets go only where they are declared and allowed ----------------------------------------


@pytest.mark.anyio
async def test_a_secret_limited_to_other_hosts_is_not_sent(app, echo_server):
    await add(
        app, key_action("scoped", echo_server.url + "/x"), {"API_KEY": KEY}, {"API_KEY": ["api.example.com"]}
    )
    async with connect(app, USER) as client:
        result = await client.call_tool("scoped", {})
    assert result.is_error
    text = result.content[0].text
    assert "API_KEY" in text and "api.example.com" in text
    assert echo_server.requests == []
    run = await only_run(app)
    assert run.status is RunStatus.DENIED and run.hosts_refused == ["127.0.0.1"]


@pytest.mark.anyio
async def test_a_secret_limited_to_the_target_host_is_sent(app, echo_server):
    await add(
        app,
        key_action("scoped", echo_server.url + "/x"),
        {"API_KEY": KEY},
        {"API_KEY": ["*.example.com", "127.0.0.1"]},
    )
    async with connect(app, USER) as client:
        result = await client.call_tool("scoped", {})
    assert not result.is_error, result.content[0].text
    assert echo_server.last()["headers"]["x-api-key"] == KEY


@pytest.mark.anyio
async def test_secret_hosts_are_listed_and_checked_when_set(app):
    await app.vault.put("default", "API_KEY", KEY, hosts=["api.example.com", "*.corp.example"])
    rows = await app.vault.list_secrets("default")
    assert rows[0]["hosts"] == ["api.example.com", "*.corp.example"]
    with pytest.raises(Exception, match="host"):
        await app.vault.put("default", "API_KEY", KEY, hosts=["http://api.example.com/path"])
