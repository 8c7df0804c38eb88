"""The example HR and chat API of the quick start, and the argument parsing of scripts/mcp-call."""

from __future__ import annotations

import threading

import httpx
import pytest

from guru_mcp.example_api import make_server
from guru_mcp.mcp_call import parse_arguments


@pytest.fixture
def example_url():
    server = make_server(port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_example_api_needs_its_tokens_and_books_days_off(example_url):
    hr = {"Authorization": "Bearer example-hr-token"}
    refused = httpx.get(f"{example_url}/pto", params={"user": "a@b.example"}, timeout=5)
    assert refused.status_code == 401 and "HR_API_TOKEN" in refused.json()["error"]
    before = httpx.get(f"{example_url}/pto", params={"user": "a@b.example"}, headers=hr, timeout=5).json()
    assert before == {"user": "a@b.example", "remaining": 25, "last_used": "2026-03-03"}
    booked = httpx.post(
        f"{example_url}/timeoff",
        headers=hr,
        timeout=5,
        json={"employee": "a@b.example", "from": "2026-07-01", "to": "2026-07-03"},
    )
    assert booked.status_code == 201 and booked.json()["days"] == 3
    after = httpx.get(f"{example_url}/pto", params={"user": "a@b.example"}, headers=hr, timeout=5).json()
    assert after["remaining"] == 22 and after["last_used"] == "2026-07-01"
    chat = httpx.post(
        f"{example_url}/chat/messages", headers=hr, json={"channel": "c", "text": "t"}, timeout=5
    )
    assert chat.status_code == 401 and "CHAT_BOT_TOKEN" in chat.json()["error"]
    chat = httpx.post(
        f"{example_url}/chat/messages",
        headers={"Authorization": "Bearer example-chat-token"},
        json={"channel": "c", "text": "t"},
        timeout=5,
    )
    assert chat.json() == {"ok": True, "channel": "c", "ts": 1}


def test_mcp_call_sends_json_values_typed_and_the_rest_as_text():
    assert parse_arguments(["days=3", "ok=true", "date=2026-07-01", "note=hello world", "x="]) == {
        "days": 3,
        "ok": True,
        "date": "2026-07-01",
        "note": "hello world",
        "x": "",
    }
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        parse_arguments(["oops"])
