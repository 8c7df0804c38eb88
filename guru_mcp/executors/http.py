"""API-call actions: one templated HTTP request through the shared, policy-checked client.

Redirects are followed here, hop by hop, not by the client, because what a hop may carry depends on
where the secrets came from (see `ApiCallConfig.follow_redirects`):

- within the same origin (scheme, host and port; or http upgraded to https on the same host and
  default ports) the request is repeated as it was;
- to another origin the redirect is refused, unless the action sets `follow_redirects: true`; then
  every header whose value came from a secret, `Authorization`, `Cookie`, and a body that holds a
  secret are dropped before the hop;
- with `follow_redirects: false` no redirect is followed and the 3xx answer is the result.

A secret limited to some hosts (`secrets set --host`) is sent only to those: each request, first or
after a hop, is checked against the host lists of the secrets it still carries.
"""

from __future__ import annotations

import codecs
import functools
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpx

from guru_mcp import progress
from guru_mcp.egress import host_allowed, unusual_ip_spelling
from guru_mcp.errors import EgressDenied, RunFailure
from guru_mcp.executors.decoding import BoundedDecoder
from guru_mcp.executors.plain_http import PlainHttpPool
from guru_mcp.models import PLACEHOLDER_RE, ApiCallConfig, ExecResult, Job, RunStatus
from guru_mcp.templating import fill_body, fill_header, fill_url

_REDIRECTS = {301, 302, 303, 307, 308}
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class _Outgoing:
    """A request and which of its parts carry which secrets."""

    request: httpx.Request
    header_secrets: dict[str, set[str]] = field(default_factory=dict)
    """Lower-cased header name -> the secrets its value holds."""
    url_secrets: set[str] = field(default_factory=set)
    body_secrets: set[str] = field(default_factory=set)

    def carried(self) -> set[str]:
        return set().union(self.url_secrets, self.body_secrets, *self.header_secrets.values())


def _secrets_in(template: Any, filled: str, secrets: dict[str, str]) -> set[str]:
    """Secrets a filled value came from: named by a placeholder of its template, or present in it."""
    if not secrets:
        return set()
    found = {m.group(1) for m in PLACEHOLDER_RE.finditer(json.dumps(template))} & secrets.keys()
    return found | {name for name, value in secrets.items() if value and value in filled}


def _origin(url: httpx.URL | str) -> tuple[str, str, int | None]:
    parts = urlsplit(str(url))
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def same_origin(old: httpx.URL | str, new: httpx.URL | str) -> bool:
    """Same scheme, host and port; or http upgraded to https on the same host, default ports."""
    a, b = _origin(old), _origin(new)
    if a == b:
        return True
    return a[1] == b[1] and a == ("http", a[1], 80) and b == ("https", b[1], 443)


def _checked_host(url: str) -> str:
    host = urlsplit(url).hostname or ""
    unusual = unusual_ip_spelling(host)
    if unusual:
        raise EgressDenied(unusual, host)
    return host


class _Reply(Protocol):
    """What the executor reads of a response (an `httpx.Response` or a `plain_http.Reply`)."""

    @property
    def status_code(self) -> int: ...
    @property
    def reason_phrase(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def is_success(self) -> bool: ...


class HttpExecutor:
    """Runs API-call jobs. The result for the model is `{success, status_code, data}`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        transport: httpx.AsyncBaseTransport,
        response_limit: int,
        max_redirects: int = 5,
        plain: PlainHttpPool | None = None,
    ) -> None:
        """`client` builds requests (its default headers); `transport` (the client's own) sends them one
        hop at a time, so that no redirect is followed by anything but `_redirected`. `plain`, when
        given, sends the `http://` hops instead (same policy, less per-request work; see
        `plain_http`); `https://` always goes through `transport`."""
        self.client = client
        self.transport = transport
        self.plain = plain
        self.response_limit = response_limit
        self.max_redirects = max_redirects

    def build_request(self, job: Job) -> httpx.Request:
        return self._build(job).request

    def _build(self, job: Job) -> _Outgoing:
        config = job.action.config
        assert isinstance(config, ApiCallConfig)
        values: dict[str, Any] = {**job.arguments, **job.builtins, **job.secrets}
        url = fill_url(config.endpoint, values)
        _checked_host(url)
        headers: dict[str, str] = {}
        header_secrets: dict[str, set[str]] = {}
        for h in config.headers:
            headers[h.key] = fill_header(h.key, h.value, values)
            used = _secrets_in(h.value, headers[h.key], job.secrets)
            if used:
                header_secrets.setdefault(h.key.lower(), set()).update(used)
        body = None if config.body is None else fill_body(config.body, values)
        content = None
        body_secrets: set[str] = set()
        if body is not None and config.method != "GET":
            content = json.dumps(body).encode()
            body_secrets = _secrets_in(config.body, content.decode(), job.secrets)
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        try:
            # What `client.build_request` makes of these (the client's default headers under the
            # action's, the timeout as an extension; it has no base URL, cookies or params), built
            # directly: it parsed the URL twice.
            merged = self.client.headers.copy()
            merged.update(headers)
            request = httpx.Request(
                config.method,
                httpx.URL(url),
                headers=merged,
                content=content,
                extensions={"timeout": httpx.Timeout(job.timeout).as_dict()},
            )
        except httpx.InvalidURL as exc:
            raise RunFailure(
                f"the endpoint is not a valid URL after filling its placeholders: {exc}"
            ) from None
        return _Outgoing(
            request, header_secrets, _secrets_in(config.endpoint, url, job.secrets), body_secrets
        )

    async def execute(self, job: Job) -> ExecResult:
        config = job.action.config
        assert isinstance(config, ApiCallConfig)
        outgoing = self._build(job)
        hosts: list[str] = []
        for _hop in range(self.max_redirects + 1):
            request = outgoing.request
            host = urlsplit(str(request.url)).hostname or ""
            _check_secret_hosts(job, outgoing, host)
            if host not in hosts:
                hosts.append(host)
            response, body, truncated = await self._send(request, host, job.timeout)
            await progress.report(None, f"{request.method} {host}: HTTP {response.status_code}")
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location or config.follow_redirects is False:
                return self._result(response, body, truncated, hosts)
            outgoing = self._redirected(
                outgoing, response.status_code, location, config.follow_redirects is True
            )
        raise RunFailure(
            f"the request to {hosts[0]} was redirected too many times (more than {self.max_redirects})"
        )

    def _redirected(
        self, outgoing: _Outgoing, status: int, location: str, follow_cross_origin: bool
    ) -> _Outgoing:
        """The next hop of a redirect, carrying only what the rule above lets it carry."""
        old = outgoing.request
        target = urljoin(str(old.url), location.strip())
        if urlsplit(target).scheme not in ("http", "https"):
            raise RunFailure(f"{old.url.host} redirected to a URL that is not http(s); not followed")
        host = _checked_host(target)
        try:
            url = httpx.URL(target)
        except httpx.InvalidURL as exc:
            raise RunFailure(f"{old.url.host} redirected to an invalid URL ({exc}); not followed") from None
        cross = not same_origin(old.url, url)
        if cross and not follow_cross_origin:
            raise EgressDenied(
                f"{old.url.host} redirected to another origin ({host}); not followed. To follow redirects to "
                "other origins set config.follow_redirects to true (headers and body holding secrets are then "
                "dropped on the way)",
                host,
            )
        method = old.method
        if (
            (status == 303 and method != "HEAD")
            or (status == 302 and method != "HEAD")
            or (status == 301 and method == "POST")
        ):
            method = "GET"
        headers = httpx.Headers(old.headers)
        for name in ("host", "cookie", "content-length", "transfer-encoding"):
            headers.pop(name, None)
        header_secrets = dict(outgoing.header_secrets)
        body_secrets = set(outgoing.body_secrets)
        content: bytes | None = old.content if old.content else None
        if cross:
            headers.pop("authorization", None)
            for name in header_secrets:
                headers.pop(name, None)
            header_secrets = {}
        if (method != old.method and method == "GET") or (cross and body_secrets):
            content, body_secrets = None, set()
            headers.pop("content-type", None)
        request = self.client.build_request(
            method, url, headers=headers, content=content, extensions=old.extensions
        )
        return _Outgoing(request, header_secrets, set(), body_secrets)

    async def _send(self, request: httpx.Request, host: str, timeout: float) -> tuple[_Reply, bytes, bool]:
        url = request.url
        if self.plain is not None and url.scheme == "http":
            reply = await self.plain.send(
                request.method,
                url.host,
                url.port or 80,
                url.raw_path,
                request.headers.raw,
                request.content,
                timeout=timeout,
                limit=self.response_limit,
            )
            return reply, reply.body, reply.truncated
        try:
            response = await self.transport.handle_async_request(request)
            response.request = request
            try:
                body, truncated = await self._read_capped(response)
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            raise RunFailure(
                f"the request to {host} timed out after {timeout:g} s", status=RunStatus.TIMEOUT
            ) from None
        except httpx.HTTPError as exc:
            raise RunFailure(f"the request to {host} failed: {type(exc).__name__}: {exc}") from None
        except zlib.error as exc:  # a corrupt compressed body (httpx's name for it)
            raise RunFailure(f"the request to {host} failed: DecodingError: {exc}") from None
        return response, body, truncated

    def _result(self, response: _Reply, body: bytes, truncated: bool, hosts: list[str]) -> ExecResult:
        data = self._decode(response, body)
        success = response.is_success
        result: dict[str, Any] = {"success": success, "status_code": response.status_code, "data": data}
        if truncated:
            result["truncated"] = True
        return ExecResult(
            status=RunStatus.OK if success else RunStatus.ERROR,
            text=json.dumps(result, ensure_ascii=False, default=str),
            data=result,
            error="" if success else f"HTTP {response.status_code} {response.reason_phrase}".strip(),
            truncated=truncated,
            hosts=[h for h in hosts if h],
        )

    async def _read_capped(self, response: httpx.Response) -> tuple[bytes, bool]:
        """The body, decoded no further than the response limit (`executors/decoding.py`: a
        compressed body is not expanded beyond it), and whether it was cut there."""
        limit = self.response_limit
        decoder = BoundedDecoder.of(response.headers.get_list("content-encoding"), limit)
        chunks: list[bytes] = []
        size = 0
        async for raw in response.aiter_raw():
            chunk = decoder.decode(raw)
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(chunks)[:limit], True
        chunks.append(decoder.flush())
        body = b"".join(chunks)
        return (body[:limit], True) if len(body) > limit else (body, False)

    @staticmethod
    def _decode(response: _Reply, body: bytes) -> Any:
        content_type = response.headers.get("content-type", "")
        text = body.decode(_charset(content_type), errors="replace")
        if "json" in content_type or text[:1] in ("{", "["):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                pass
        return text


@functools.lru_cache(maxsize=64)
def _charset(content_type: str) -> str:
    """The codec named by a Content-Type's `charset` parameter, else UTF-8 (as httpx decides, without
    its e-mail header parser on every response)."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            name = value.strip().strip("\"'")
            try:
                return codecs.lookup(name).name
            except LookupError:
                break
    return "utf-8"


def _check_secret_hosts(job: Job, outgoing: _Outgoing, host: str) -> None:
    """Refuse a request that carries a secret limited to other hosts."""
    for name in sorted(outgoing.carried()):
        allowed = job.secret_hosts.get(name)
        if allowed and not host_allowed(host, allowed):
            raise EgressDenied(
                f"secret {name} may only be sent to {', '.join(allowed)}; refused for this request to {host}",
                host,
            )
