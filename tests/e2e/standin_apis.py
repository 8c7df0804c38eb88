"""Loopback stand-ins for the remote APIs the catalog in `actions/` calls.

One real HTTP server on 127.0.0.1 answers, by path, in the response shapes those APIs document
(Stripe's list and search objects, Statuspage incidents, Jira's create-issue answer, Zendesk search
with SLA side-loads, Shippo tracks, and the HR, chat, product, analytics and inventory APIs the
example actions define). It checks each request's credentials and records every request, so tests can
assert what an action sent as well as what it printed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.http import QuietHandler, loopback_http

# One credential per service; the tests set them as secrets.
CREDENTIALS = {
    "STRIPE_API_KEY": "sk_test_standin_4f9a2c71",
    "STATUSPAGE_API_KEY": "sp-standin-0c3e91d2",
    "STATUSPAGE_PAGE_ID": "page_standin01",
    "PRODUCT_API_KEY": "product-standin-7d21",
    "JIRA_EMAIL": "bot@corp.example",
    "JIRA_API_TOKEN": "jira-standin-5b8e0f",
    "ZENDESK_EMAIL": "agent@corp.example",
    "ZENDESK_API_TOKEN": "zendesk-standin-9a4c",
    "ANALYTICS_API_KEY": "analytics-standin-31f0",
    "SHIPPO_API_KEY": "shippo_test_standin_82",
    "INVENTORY_API_KEY": "inventory-standin-6e2b",
    "HR_API_TOKEN": "hr-standin-token-1a2b",
    "CHAT_BOT_TOKEN": "xoxb-standin-5566",
}

NOW = datetime.now(UTC).replace(microsecond=0)


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


CHARGE_ORDER = {
    "id": "ch_3Standin0rder",
    "object": "charge",
    "amount": 4999,
    "currency": "usd",
    "status": "succeeded",
    "captured": True,
    "refunded": False,
    "created": _ts(NOW - timedelta(days=3)),
    "metadata": {"order_id": "12345"},
}
CHARGES_TWICE = [
    {
        "id": "ch_first",
        "object": "charge",
        "amount": 4999,
        "currency": "usd",
        "status": "succeeded",
        "captured": True,
        "refunded": False,
        "created": _ts(NOW - timedelta(hours=5)),
    },
    {
        "id": "ch_second",
        "object": "charge",
        "amount": 4999,
        "currency": "usd",
        "status": "succeeded",
        "captured": False,
        "refunded": False,
        "created": _ts(NOW - timedelta(hours=5, minutes=-1)),
    },
    {
        "id": "ch_other",
        "object": "charge",
        "amount": 1200,
        "currency": "usd",
        "status": "succeeded",
        "captured": True,
        "refunded": False,
        "created": _ts(NOW - timedelta(days=20)),
    },
]


@dataclass
class StandinApis:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)

    def seen(self, path_prefix: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].startswith(path_prefix)]


def _stripe_list(data: list[dict[str, Any]], url: str, *, search: bool = False) -> dict[str, Any]:
    return {"object": "search_result" if search else "list", "data": data, "has_more": False, "url": url}


class _Handler(QuietHandler):
    server_version = "standin/1"
    state: StandinApis

    # -- plumbing ---------------------------------------------------------------------------------

    def _basic(self) -> tuple[str, str]:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return "", ""
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user, password

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        record = {
            "method": self.command,
            "path": parts.path,
            "query": query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "json": json.loads(raw) if raw else None,
        }
        self.state.requests.append(record)
        code, data = self._route(parts.path, query, record)
        self.reply_json(code, data)

    do_GET = do_POST = _handle

    # -- the APIs ---------------------------------------------------------------------------------

    def _route(self, path: str, query: dict[str, str], record: dict[str, Any]) -> tuple[int, Any]:
        if path.startswith(("/v1/charges", "/v1/refunds", "/v1/customers", "/v1/subscriptions")):
            if self._basic() != (CREDENTIALS["STRIPE_API_KEY"], ""):
                return 401, {
                    "error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}
                }
            return self._stripe(path, query)
        if path.startswith("/v1/pages/"):
            if self.headers.get("Authorization") != f"OAuth {CREDENTIALS['STATUSPAGE_API_KEY']}":
                return 401, {"error": "Could not authenticate"}
            if path != f"/v1/pages/{CREDENTIALS['STATUSPAGE_PAGE_ID']}/incidents/unresolved":
                return 404, {"error": "Page not found"}
            return 200, [
                {
                    "id": "inc_p8x",
                    "name": "Elevated API error rates",
                    "status": "identified",
                    "impact": "major",
                    "shortlink": "https://stspg.io/standin",
                    "created_at": _iso(NOW - timedelta(minutes=40)),
                    "components": [{"name": "API"}, {"name": "Dashboard"}],
                    "incident_updates": [
                        {
                            "status": "identified",
                            "body": "A faulty deploy is being rolled back.",
                            "created_at": _iso(NOW - timedelta(minutes=10)),
                        }
                    ],
                }
            ]
        if path == "/v1/accounts/lookup":
            if self.headers.get("Authorization") != f"Bearer {CREDENTIALS['PRODUCT_API_KEY']}":
                return 401, {"error": "unauthorized"}
            if query.get("email") != "dana@shop.example":
                return 404, {"error": "no such account"}
            return 200, {
                "email": "dana@shop.example",
                "plan": "Team",
                "seats_used": 9,
                "seats_limit": 10,
                "features": ["api access", "audit log"],
                "upgrades": {"sso": "the Enterprise plan"},
            }
        if path == "/rest/api/3/issue":
            if self._basic() != (CREDENTIALS["JIRA_EMAIL"], CREDENTIALS["JIRA_API_TOKEN"]):
                return 401, {"errorMessages": ["Unauthorized"], "errors": {}}
            fields = (record["json"] or {}).get("fields", {})
            if not fields.get("summary"):
                return 400, {
                    "errorMessages": [],
                    "errors": {"summary": "You must specify a summary of the issue."},
                }
            return 201, {
                "id": "10042",
                "key": f"{fields['project']['key']}-42",
                "self": f"{self.state.url}/rest/api/3/issue/10042",
            }
        if path == "/api/v2/search.json":
            if self._basic() != (CREDENTIALS["ZENDESK_EMAIL"] + "/token", CREDENTIALS["ZENDESK_API_TOKEN"]):
                return 401, {"error": "Couldn't authenticate you"}
            return 200, self._zendesk(query)
        if path == "/v1/impacted-accounts":
            if self.headers.get("Authorization") != f"Bearer {CREDENTIALS['ANALYTICS_API_KEY']}":
                return 401, {"error": "unauthorized"}
            accounts = [
                {
                    "name": "Globex",
                    "email": "ops@globex.example",
                    "plan": "team",
                    "region": "EU",
                    "affected_requests": 840,
                },
                {
                    "name": "Initech",
                    "email": "it@initech.example",
                    "plan": "enterprise",
                    "region": "EU",
                    "affected_requests": 120,
                },
                {
                    "name": "Umbrella",
                    "email": "noc@umbrella.example",
                    "plan": "enterprise",
                    "region": "US",
                    "affected_requests": 50,
                },
            ]
            region = query.get("region")
            return 200, {
                "incident_type": query.get("incident_type"),
                "accounts": [a for a in accounts if not region or a["region"] == region],
            }
        if path.startswith("/tracks/"):
            if self.headers.get("Authorization") != f"ShippoToken {CREDENTIALS['SHIPPO_API_KEY']}":
                return 401, {"detail": "Invalid token."}
            _, _, carrier, number = path.split("/", 3)
            location = {"city": "Memphis", "state": "TN", "zip": "38118", "country": "US"}
            return 200, {
                "carrier": carrier,
                "tracking_number": number,
                "eta": _iso(NOW + timedelta(days=2)),
                "servicelevel": {"token": f"{carrier}_priority", "name": "Priority Mail"},
                "tracking_status": {
                    "status": "TRANSIT",
                    "status_details": "Departed the sorting facility",
                    "status_date": _iso(NOW - timedelta(hours=6)),
                    "location": location,
                },
                "tracking_history": [
                    {
                        "status": "PRE_TRANSIT",
                        "status_details": "Label created",
                        "status_date": _iso(NOW - timedelta(days=1)),
                    },
                    {
                        "status": "TRANSIT",
                        "status_details": "Departed the sorting facility",
                        "status_date": _iso(NOW - timedelta(hours=6)),
                        "location": location,
                    },
                ],
            }
        if path == "/v1/stock":
            if self.headers.get("Authorization") != f"Bearer {CREDENTIALS['INVENTORY_API_KEY']}":
                return 401, {"error": "unauthorized"}
            return 200, {
                "sku": query.get("sku"),
                "variant": query.get("variant", ""),
                "available": 7,
                "warehouses": [
                    {"name": "Leipzig", "quantity": 5, "ships_in_days": 1},
                    {"name": "Reno", "quantity": 2, "ships_in_days": 3},
                ],
            }
        if path == "/pto":
            if self.headers.get("Authorization") != f"Bearer {CREDENTIALS['HR_API_TOKEN']}":
                return 401, {"error": "unauthorized"}
            return 200, {"user": query.get("user"), "remaining": 12, "last_used": "2026-03-03"}
        if path == "/timeoff":
            if self.headers.get("Authorization") != f"Bearer {CREDENTIALS['HR_API_TOKEN']}":
                return 401, {"error": "unauthorized"}
            return 201, {"request_id": 4892, "status": "submitted", **(record["json"] or {})}
        if path == "/messages":
            if self.headers.get("Authorization") != f"Bearer {CREDENTIALS['CHAT_BOT_TOKEN']}":
                return 200, {"ok": False, "error": "invalid_auth"}
            return 200, {
                "ok": True,
                "channel": (record["json"] or {}).get("channel"),
                "ts": "1712345678.000100",
            }
        return 404, {"error": f"no stand-in for {path}"}

    def _stripe(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        if path == "/v1/charges/search":
            hit = query.get("query") == "metadata['order_id']:'12345'"
            return 200, _stripe_list([CHARGE_ORDER] if hit else [], path, search=True)
        if path == "/v1/refunds":
            refunds = [
                {
                    "id": "re_standin1",
                    "object": "refund",
                    "amount": 4999,
                    "currency": "usd",
                    "status": "pending",
                    "charge": CHARGE_ORDER["id"],
                }
            ]
            return 200, _stripe_list(refunds if query.get("charge") == CHARGE_ORDER["id"] else [], path)
        if path == "/v1/customers/search":
            if query.get("query") == "email:'dana@shop.example'":
                return 200, _stripe_list(
                    [
                        {
                            "id": "cus_Dana",
                            "object": "customer",
                            "email": "dana@shop.example",
                            "name": "Dana Shop",
                        }
                    ],
                    path,
                    search=True,
                )
            return 200, _stripe_list([], path, search=True)
        if path == "/v1/charges":
            return 200, _stripe_list(CHARGES_TWICE if query.get("customer") == "cus_Dana" else [], path)
        if path == "/v1/subscriptions":
            subs = [
                {
                    "id": "sub_standin",
                    "object": "subscription",
                    "status": "active",
                    "cancel_at_period_end": False,
                    "current_period_end": _ts(datetime(2027, 1, 15, tzinfo=UTC)),
                    "items": {
                        "object": "list",
                        "data": [
                            {
                                "id": "si_1",
                                "quantity": 10,
                                "price": {
                                    "id": "price_team",
                                    "nickname": "Team (monthly)",
                                    "unit_amount": 1200,
                                    "currency": "usd",
                                    "recurring": {"interval": "month"},
                                },
                            }
                        ],
                    },
                }
            ]
            return 200, _stripe_list(subs if query.get("customer") == "cus_Dana" else [], path)
        return 404, {
            "error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({path})"}
        }

    def _zendesk(self, query: dict[str, str]) -> dict[str, Any]:
        def ticket(
            number: int, subject: str, minutes: int, assignee: int | None, priority: str
        ) -> dict[str, Any]:
            return {
                "id": number,
                "subject": subject,
                "status": "open",
                "priority": priority,
                "assignee_id": assignee,
                "group_id": 360001,
                "slas": {
                    "policy_metrics": [
                        {
                            "breach_at": _iso(NOW + timedelta(minutes=minutes)),
                            "stage": "active",
                            "metric": "first_reply_time",
                            "hours": 1,
                        }
                    ]
                },
            }

        results = [
            ticket(901, "Checkout page times out", 25, None, "urgent"),
            ticket(902, "Invoice address wrong", 150, 7001, "normal"),
            ticket(903, "Feature request: dark mode", 60 * 30, 7002, "low"),
        ]
        return {
            "results": results,
            "count": len(results),
            "next_page": None,
            "previous_page": None,
            "facets": None,
            "query_seen": query.get("query"),
        }


@contextmanager
def standin_apis() -> Iterator[StandinApis]:
    state = StandinApis(url="")
    with loopback_http(type("Handler", (_Handler,), {"state": state})) as server:
        state.url = server.url
        yield state
