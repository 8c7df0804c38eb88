import ipaddress

import pytest

from guru_mcp.egress import EgressPolicy, blocked_reason, build_http_client
from guru_mcp.errors import EgressDenied


@pytest.mark.parametrize(
    "addr",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "0.0.0.0",
        "224.0.0.1",
        "::ffff:127.0.0.1",
        "fd00:ec2::254",
    ],
)
def test_private_loopback_link_local_and_metadata_addresses_are_refused(addr):
    assert blocked_reason(ipaddress.ip_address(addr)) is not None


def test_public_addresses_pass():
    assert blocked_reason(ipaddress.ip_address("93.184.216.34")) is None


@pytest.mark.anyio
async def test_the_allow_list_takes_hosts_and_cidrs():
    policy = EgressPolicy(["127.0.0.1", "localhost", "10.0.0.0/8"])
    assert await policy.resolve("127.0.0.1", 80) == ["127.0.0.1"]
    assert await policy.resolve("10.9.9.9", 80) == ["10.9.9.9"]
    assert "127.0.0.1" in await policy.resolve("localhost", 80)
    with pytest.raises(EgressDenied, match="GURU_MCP_EGRESS_ALLOW"):
        await policy.resolve("127.0.0.2", 80)
    with pytest.raises(EgressDenied):
        await EgressPolicy().resolve("localhost", 80)


@pytest.mark.anyio
async def test_the_shared_client_refuses_loopback_without_an_allow_list(echo_server):
    async with build_http_client(EgressPolicy()) as client:
        with pytest.raises(EgressDenied, match="loopback"):
            await client.get(echo_server.url + "/x")
    assert echo_server.requests == []


@pytest.mark.anyio
async def test_a_redirect_to_a_refused_address_is_refused(echo_server):
    async with build_http_client(EgressPolicy(["127.0.0.1"])) as client:
        response = await client.get(echo_server.url + "/plain")
        assert response.status_code == 200
        with pytest.raises(EgressDenied):
            await client.get(echo_server.url + "/redirect?to=http://169.254.169.254/latest/meta-data/")


@pytest.mark.anyio
async def test_environment_proxies_are_ignored(echo_server, other_echo_server, monkeypatch):
    # The proxy the environment names is a live server: a request sent through it would land there.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, other_echo_server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with build_http_client(EgressPolicy(["127.0.0.1"])) as client:
        assert (await client.get(echo_server.url + "/x")).status_code == 200
    assert other_echo_server.requests == [], "the request went through the environment's proxy"
    assert echo_server.last()["raw_path"] == "/x"  # origin-form: sent directly, not to a proxy
