"""A small local HR and chat API for the ready-made actions in `actions/`, so the quick start ends in a
tool call that really succeeds. Not part of the server: `scripts/example-api` starts it.

    python -m guru_mcp.example_api [--host 127.0.0.1] [--port 8765] [--token example-hr-token]
                                   [--chat-token example-chat-token]

Endpoints (the HR ones need `Authorization: Bearer <token>`, the chat one the chat token; else 401):

- `GET /pto?user=EMAIL` -> `{"user", "remaining", "last_used"}` (what `pto_balance_lookup` reads)
- `POST /timeoff` with `{"employee", "from", "to", "kind", "comment"}` -> `{"request_id", "status", ...}`
  (`submit_pto_request`)
- `POST /chat/messages` with `{"channel", "text"}` -> `{"ok": true, "channel", "ts"}` (`notify_manager`)

State is in memory; balances go down as requests are booked. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_PORT = 8765
DEFAULT_TOKEN = "example-hr-token"
DEFAULT_CHAT_TOKEN = "example-chat-token"
STARTING_BALANCE = 25


class ExampleState:
    def __init__(self, token: str, chat_token: str) -> None:
        self.token = token
        self.chat_token = chat_token
        self.lock = threading.Lock()
        self.remaining: dict[str, int] = {}
        self.requests: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []

    def balance(self, user: str) -> int:
        return self.remaining.setdefault(user, STARTING_BALANCE)


def _days(first: str, last: str) -> int:
    try:
        return max((date.fromisoformat(last) - date.fromisoformat(first)).days + 1, 1)
    except ValueError:
        return 1


class _Handler(BaseHTTPRequestHandler):
    server_version = "guru-mcp-example-api/1"
    state: ExampleState

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"example-api: {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")

    def _reply(self, code: int, data: Any) -> None:
        body = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        chat = urlsplit(self.path).path.startswith("/chat/")
        token, secret = (
            (self.state.chat_token, "CHAT_BOT_TOKEN") if chat else (self.state.token, "HR_API_TOKEN")
        )
        if self.headers.get("Authorization", "") == f"Bearer {token}":
            return True
        self._reply(401, {"error": f"send Authorization: Bearer <token> (the {secret} secret)"})
        return False

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            data = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def do_GET(self) -> None:
        if not self._authorised():
            return
        url = urlsplit(self.path)
        if url.path.rstrip("/") != "/pto":
            self._reply(404, {"error": f"no such endpoint: GET {url.path}"})
            return
        user = parse_qs(url.query).get("user", [""])[0]
        if not user:
            self._reply(400, {"error": "pass ?user=EMAIL"})
            return
        with self.state.lock:
            remaining = self.state.balance(user)
            booked = [r for r in self.state.requests if r["employee"] == user]
        last = booked[-1]["from"] if booked else "2026-03-03"
        self._reply(200, {"user": user, "remaining": remaining, "last_used": last})

    def do_POST(self) -> None:
        if not self._authorised():
            return
        path = urlsplit(self.path).path.rstrip("/")
        body = self._body()
        if path == "/timeoff":
            employee, first, last = (
                str(body.get("employee", "")),
                str(body.get("from", "")),
                str(body.get("to", "")),
            )
            if not employee or not first:
                self._reply(400, {"error": "employee and from are required"})
                return
            days = _days(first, last or first)
            with self.state.lock:
                self.state.remaining[employee] = self.state.balance(employee) - days
                request = {
                    "request_id": f"PTO-{len(self.state.requests) + 1:04d}",
                    "employee": employee,
                    "from": first,
                    "to": last or first,
                    "days": days,
                    "status": "pending approval",
                    "comment": body.get("comment", ""),
                }
                self.state.requests.append(request)
            self._reply(201, request)
            return
        if path == "/chat/messages":
            with self.state.lock:
                message = {"ok": True, "channel": body.get("channel", ""), "ts": len(self.state.messages) + 1}
                self.state.messages.append({**message, "text": body.get("text", "")})
            self._reply(200, message)
            return
        self._reply(404, {"error": f"no such endpoint: POST {path}"})


def make_server(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    token: str = DEFAULT_TOKEN,
    chat_token: str = DEFAULT_CHAT_TOKEN,
) -> ThreadingHTTPServer:
    """The server, bound and ready (port 0 picks a free one); call `serve_forever()` on it."""
    handler = type("Handler", (_Handler,), {"state": ExampleState(token, chat_token)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="example-api", description="The example HR and chat API for actions/."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the bearer token of the HR endpoints")
    parser.add_argument(
        "--chat-token", default=DEFAULT_CHAT_TOKEN, help="the bearer token of the chat endpoint"
    )
    args = parser.parse_args(argv)
    try:
        server = make_server(args.host, args.port, args.token, args.chat_token)
    except OSError as exc:
        print(f"example-api: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    address, port = server.server_address[:2]
    host = address.decode() if isinstance(address, bytes) else address
    print(
        f"example-api: serving on http://{host}:{port} (HR: /pto, /timeoff; chat: /chat/messages)", flush=True
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
