"""The ready-made catalog in `actions/`, end to end.

`guru-mcp actions import actions/*.json` on a fresh home imports every action, disabled until its
secrets are set (saying which). Then, with the secrets pointing at loopback stand-ins of the remote
APIs (`standin_apis.py`, answering in those APIs' documented shapes), each action is called as a
tool through a real MCP client over stdio, Python actions in the real Docker sandbox, and its answer
and the request it sent are checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.e2e.conftest import GURU, cli
from tests.e2e.standin_apis import CREDENTIALS, StandinApis, standin_apis

pytestmark = pytest.mark.docker

CATALOG = sorted(Path("actions").glob("*.json"))
URL_SECRETS = (
    "STRIPE_API_URL",
    "STATUSPAGE_API_URL",
    "PRODUCT_API_URL",
    "JIRA_URL",
    "ZENDESK_URL",
    "ANALYTICS_API_URL",
    "SHIPPO_API_URL",
    "INVENTORY_API_URL",
    "HR_API_URL",
    "CHAT_API_URL",
)


def catalog_specs() -> dict[str, dict]:
    specs = {}
    for path in CATALOG:
        data = json.loads(path.read_text())
        for spec in data if isinstance(data, list) else [data]:
            specs[spec["name"]] = spec
    return specs


def test_every_catalog_action_has_a_description_a_model_can_pick_it_by():
    specs = catalog_specs()
    assert len(specs) >= 13
    for name, spec in specs.items():
        assert len(spec.get("condition_prompt", "")) >= 40, name
        for param in spec.get("parameters", []):
            assert len(param.get("description", "")) >= 15, (name, param["name"])


@pytest.fixture(scope="module")
def apis() -> StandinApis:
    with standin_apis() as state:
        yield state


@pytest.mark.anyio
async def test_the_whole_catalog_imports_disabled_then_every_action_answers_through_mcp(sandbox_env, apis):
    specs = catalog_specs()
    cli(sandbox_env, "init")
    imported = cli(sandbox_env, "actions", "import", *map(str, CATALOG)).stdout
    for name, spec in specs.items():
        if spec.get("action_type") == "AGENT":
            continue
        line = next(line for line in imported.splitlines() if f" {name} " in line + " ")
        assert "disabled until these secrets are set" in line, line
    assert "STRIPE_API_KEY" in imported and "ZENDESK_API_TOKEN" in imported

    for name in URL_SECRETS:
        cli(sandbox_env, "secrets", "set", name, stdin=apis.url)
    for name, value in CREDENTIALS.items():
        cli(sandbox_env, "secrets", "set", name, "--enable-actions", stdin=value)
    listed = cli(sandbox_env, "actions", "list", "--json").stdout
    states = {a["name"]: a["enabled"] for a in json.loads(listed)}
    assert all(states[name] for name, spec in specs.items() if spec.get("action_type") != "AGENT"), states

    params = StdioServerParameters(command=GURU, args=["serve", "--admin"], env=sandbox_env)
    async with Client(params, read_timeout_seconds=120) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert {n for n, s in specs.items() if s.get("action_type") != "AGENT"} <= tools

        async def call(tool: str, arguments: dict) -> str:
            result = await client.call_tool(tool, arguments)
            text = result.content[0].text
            assert not result.is_error, f"{tool}: {text}"
            return text

        refund = await call("refund_status", {"order_id": "#12345"})
        assert "Order 12345: charge ch_3Standin0rder of 49.99 USD" in refund
        assert "re_standin1: 49.99 USD, PENDING" in refund
        no_refund = await call("refund_status", {"order_id": "999"})
        assert "No payment found for order 999" in no_refund

        double = await call("double_charge_check", {"customer_email": "dana@shop.example", "amount": 49.99})
        assert "2 charges of 49.99 USD for dana@shop.example" in double
        assert "ch_second" in double and "authorization hold, not captured" in double
        assert "only one charge was actually taken" in double

        incidents = json.loads(await call("incident_status", {}))
        assert incidents["status_code"] == 200
        assert incidents["data"][0]["name"] == "Elevated API error rates"

        plan = await call("plan_entitlements", {"customer_email": "dana@shop.example", "feature": "SSO"})
        assert "plan Team" in plan and "Seats: 9 of 10 used" in plan
        assert "'sso' is NOT included in the Team plan. It comes with the Enterprise plan." in plan

        bug = await call(
            "create_bug_ticket",
            {
                "summary": "CSV export fails over 10k rows",
                "steps": "Export a big report",
                "customer_email": "dana@shop.example",
                "priority": "critical",
            },
        )
        assert "Created SUP-42 (Highest): CSV export fails over 10k rows" in bug
        assert "/browse/SUP-42" in bug  # the Jira base URL is a secret, so it is masked in the link
        sent = apis.seen("/rest/api/3/issue")[-1]["json"]["fields"]
        assert sent["issuetype"] == {"name": "Bug"} and sent["priority"] == {"name": "Highest"}
        assert "customer-impact" in sent["labels"]
        assert "sam@corp.example" in json.dumps(sent["description"])  # the caller, from GURUBASE_USER_EMAIL

        sla = await call("sla_breach_watch", {"hours_ahead": 4, "team": "Billing"})
        assert "2 SLA target(s) for Billing breach within 4 hours" in sla
        assert sla.index("#901") < sla.index("#902") and "#903" not in sla
        assert "unassigned - assign it now" in sla
        assert 'group:"Billing"' in apis.seen("/api/v2/search.json")[-1]["query"]["query"]

        outreach = await call("incident_impact_outreach", {"incident_type": "latency", "region": "eu"})
        assert "2 customer(s) affected by the latency incident in EU" in outreach
        assert outreach.index("Initech") < outreach.index("Globex")  # enterprise first
        assert "Umbrella" not in outreach and "Suggested email" in outreach

        tracking = json.loads(
            await call("shipment_tracking", {"carrier": "usps", "tracking_number": "9205 5000"})
        )
        assert tracking["data"]["tracking_status"]["status"] == "TRANSIT"
        assert apis.seen("/tracks/")[-1]["path"] == "/tracks/usps/9205%205000"

        billing = await call("billing_overview", {"customer_email": "dana@shop.example"})
        assert "Team (monthly): active, 120.00 USD per month x10, renews on 2027-01-15" in billing

        stock = json.loads(
            await call("product_availability", {"product": "TRAIL-RUNNER-2", "variant": "size 42"})
        )
        assert stock["data"]["available"] == 7
        assert apis.seen("/v1/stock")[-1]["query"] == {"sku": "TRAIL-RUNNER-2", "variant": "size 42"}

        balance = await call("pto_balance_lookup", {})
        assert "sam@corp.example: 12 PTO days left" in balance
        submitted = json.loads(
            await call("submit_pto_request", {"start_date": "2026-04-17", "end_date": "2026-04-17"})
        )
        assert submitted["status_code"] == 201 and submitted["data"]["employee"] == "sam@corp.example"
        notified = json.loads(await call("notify_manager", {"start_date": "2026-04-17"}))
        assert notified["data"]["ok"] is True
        assert apis.seen("/messages")[-1]["json"]["text"].endswith("asked for 1 day(s) off from 2026-04-17.")

        history = await client.call_tool("admin_runs_list", {"limit": 100})
    everything = (
        json.dumps(history.structured_content) + refund + double + plan + bug + sla + outreach + billing
    )
    for value in CREDENTIALS.values():
        if len(value) >= 8:
            assert value not in everything
