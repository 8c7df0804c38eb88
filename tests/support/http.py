"""The suite's one test HTTP server: a real server on 127.0.0.1 (a free port) answering from a daemon
thread, with the request handler each test needs; and the recording echo server most tests use."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps out of the test output, with one way to answer."""

    def log_message(self, *args: Any) -> None:
        pass

    def reply(self, code: int, body: bytes = b"", content_type: str | None = None) -> None:
        self.send_response(code)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reply_json(self, code: int, data: Any) -> None:
        self.reply(code, json.dumps(data).encode(), "application/json")


@dataclass
class LoopbackServer:
    httpd: ThreadingHTTPServer

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def loopback_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[LoopbackServer]:
    """Serve `handler` on 127.0.0.1 until the block ends (then shut down and joined)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield LoopbackServer(httpd)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@dataclass
class EchoServer:
    """A real HTTP server on 127.0.0.1 that records requests and answers by path."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)

    def last(self) -> dict[str, Any]:
        assert self.requests, "the server saw no request"
        return self.requests[-1]


class EchoHandler(QuietHandler):
    server_version = "echo/1"
    echo: EchoServer

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        seen = {
            "method": self.command,
            "path": parts.path,
            "raw_path": self.path,
            "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": raw.decode("utf-8", "replace"),
        }
        try:
            seen["json"] = json.loads(raw) if raw else None
        except ValueError:
            seen["json"] = None
        self.echo.requests.append(seen)
        if parts.path.startswith("/redirect"):
            # `/redirect?to=URL` answers 302; `/redirect/307?to=URL` answers with that status.
            tail = parts.path.removeprefix("/redirect").strip("/")
            self.send_response(int(tail) if tail else 302)
            self.send_header("Location", seen["query"]["to"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if parts.path.startswith("/status/"):
            code = int(parts.path.rsplit("/", 1)[1])
            self.reply_json(code, {"error": f"status {code}"})
            return
        if parts.path == "/big":
            self.reply(200, b"x" * (3 * 1024 * 1024), "text/plain")
            return
        if parts.path == "/slow":
            self.echo.gate.wait(10)
        if parts.path == "/sleep":  # ?s=SECONDS (at most 30), cut short when the gate opens
            self.echo.gate.wait(min(float(seen["query"].get("s", "1")), 30))
        if parts.path == "/text":
            self.reply(200, b"plain words", "text/plain")
            return
        if parts.path.startswith("/pto"):
            user = seen["query"].get("user", "")
            self.reply_json(200, {"user": user, "remaining": 12, "last_used": "2026-03-03"})
            return
        if "encode" in seen["query"]:
            # `?encode=VALUE`: the answer carries VALUE's encodings too (an upstream echoing a
            # credential back base64- or URL-encoded).
            value = seen["query"]["encode"].encode()
            seen["encoded"] = {
                "b64": base64.b64encode(value).decode(),
                "b64_basic": base64.b64encode(b"user:" + value).decode(),
                "url": quote(value, safe=""),
                "hex": value.hex(),
            }
        self.reply_json(200, seen)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


@contextmanager
def echo_server() -> Iterator[EchoServer]:
    """An echo server until the block ends (its gate opened at the end, so no handler stays blocked)."""
    echo = EchoServer(url="")
    with loopback_http(type("Handler", (EchoHandler,), {"echo": echo})) as server:
        echo.url = server.url
        try:
            yield echo
        finally:
            echo.gate.set()
