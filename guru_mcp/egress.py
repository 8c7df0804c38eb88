"""One outbound policy for API-call actions and sandbox egress.

Private, loopback, link-local, shared, multicast, reserved and cloud-metadata addresses are refused
unless the operator allows them (`GURU_MCP_EGRESS_ALLOW`: hosts, `*.suffix` patterns, IPs or CIDRs).
The check runs on the resolved addresses at connect time, inside the HTTP client's network backend,
so it covers every redirect hop and cannot be raced by a DNS answer that changes between a check
and the connection: we connect to exactly the address we checked.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import ssl
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpcore
import httpx

from guru_mcp.errors import EgressDenied

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_EXTRA_BLOCKED = [
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT (shared address space)
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("198.18.0.0/15"),
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS metadata over IPv6
]


_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_DOTTED_DECIMAL_LABEL = re.compile(r"0|[1-9][0-9]{0,2}")
_HOST_NAME = re.compile(
    r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*"
)


def unusual_ip_spelling(host: str) -> str | None:
    """Why `host` is refused as an unusual spelling of an IPv4 address (octal `0177.0.0.1`, hex
    `0x7f.1`, an integer `2130706433`, fewer parts `127.1`, leading zeros, a trailing dot), or None
    for ordinary names and dotted-decimal addresses. Resolvers disagree about such spellings (some read
    octal, some refuse), so they are refused whole rather than interpreted."""
    text = host.strip().strip("[]").lower()
    labels = text.removesuffix(".").split(".")
    if not all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
        return None
    canonical = (
        len(labels) == 4
        and not text.endswith(".")
        and all(_DOTTED_DECIMAL_LABEL.fullmatch(label) and int(label) <= 255 for label in labels)
    )
    if canonical:
        return None
    try:
        meant = f" (read as {socket.inet_ntoa(socket.inet_aton(text.removesuffix('.')))} by some resolvers)"
    except OSError:
        meant = ""
    return (
        f"egress refused: {host!r} is an unusual spelling of an IP address{meant}; write addresses in "
        "dotted decimal (a.b.c.d) or use a host name"
    )


def host_pattern(entry: str) -> str:
    """Validate one entry of a host list (`api.example.com`, `*.example.com`, an IP address); lower-cased.
    Raises ValueError naming the problem."""
    text = entry.strip().lower()
    bare = text.strip("[]")
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    name = text[2:] if text.startswith("*.") else text
    if not name or not _HOST_NAME.fullmatch(name.removesuffix(".")) or unusual_ip_spelling(name):
        raise ValueError(
            f"{entry!r} is not a host: use a name (api.example.com), a *.suffix pattern or an IP address, "
            "without scheme, port or path"
        )
    return text.removesuffix(".")


def host_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """Whether `host` matches a host list: exact names/IPs or `*.suffix` patterns (which also match the
    bare suffix)."""
    host = host.strip("[]").lower().rstrip(".")
    for entry in allowed_hosts:
        entry = entry.strip().lower().rstrip(".")
        if entry.startswith("*.") and (host.endswith(entry[1:]) or host == entry[2:]):
            return True
        if host == entry.strip("[]"):
            return True
    return False


def blocked_reason(ip: IPAddress) -> str | None:
    """Why an address is refused by default, or None if it is an ordinary public address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return blocked_reason(ip.ipv4_mapped)
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local (cloud metadata) address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if any(ip in net for net in _EXTRA_BLOCKED):
        return "a shared or special-purpose address"
    return None


class EgressPolicy:
    """Decides whether a host:port may be reached, after DNS resolution."""

    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.names: set[str] = set()
        self.suffixes: list[str] = []
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allow:
            entry = entry.strip().lower()
            if not entry:
                continue
            if entry.startswith("*."):
                self.suffixes.append(entry[1:])
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.add(entry.rstrip("."))

    def _name_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.names or any(host.endswith(s) for s in self.suffixes)

    def _address_allowed(self, ip: IPAddress) -> bool:
        return any(ip in net for net in self.networks)

    async def resolve(self, host: str, port: int) -> list[str]:
        """Addresses to connect to for host:port, all checked; raises EgressDenied otherwise."""
        host = host.strip("[]")
        unusual = unusual_ip_spelling(host)
        if unusual:
            raise EgressDenied(unusual, host)
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            infos = [str(literal)]
        else:
            try:
                with anyio.fail_after(10):
                    found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, TimeoutError) as exc:
                raise EgressDenied(f"cannot resolve host {host!r}: {exc}") from None
            infos = list(dict.fromkeys(str(info[4][0]) for info in found))
        if self._name_allowed(host):
            return infos
        allowed: list[str] = []
        for addr in infos:
            ip = ipaddress.ip_address(addr.split("%", 1)[0])
            reason = blocked_reason(ip)
            if reason is None or self._address_allowed(ip):
                allowed.append(addr)
            elif literal is not None or len(infos) == 1:
                raise EgressDenied(f"egress refused: {host} is {reason} ({addr}); {how_to_allow(host)}", host)
            else:
                # A name resolving to a mix of public and private addresses is refused whole.
                raise EgressDenied(
                    f"egress refused: {host} resolves to {addr}, {reason}; {how_to_allow(host)}", host
                )
        if not allowed:
            raise EgressDenied(f"egress refused: {host} has no address")
        return allowed


def how_to_allow(host: str) -> str:
    """What an operator does to let actions reach `host` although it is private or loopback."""
    return (
        f"an operator can allow it with `guru-mcp config set egress_allow {host}` "
        "(or GURU_MCP_EGRESS_ALLOW) and a restart"
    )


def refusal_line(host: str, *, by_action: bool = False, by_secret: bool = False) -> str:
    """The one line a run's error text carries for each host it was refused."""
    if by_action:
        return f"egress to {host} refused by policy (allow it with config.allowed_hosts of this action)"
    if by_secret:
        return (
            f"egress to {host} refused by policy (the request carries a secret limited to other hosts; "
            "allow it by adding the host to that secret's hosts)"
        )
    return (
        f"egress to {host} refused by policy (allow it with `guru-mcp config set egress_allow {host}` "
        "or GURU_MCP_EGRESS_ALLOW, then restart the server)"
    )


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that checks every TCP connection against the policy."""

    def __init__(self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.policy.resolve(host, port)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise EgressDenied("egress refused: unix sockets are not reachable from actions")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class DeferredCAContext(ssl.SSLContext):
    """httpx's default TLS client context (certificate and host name checked against the CA bundle
    of `SSL_CERT_FILE` / `SSL_CERT_DIR`, else certifi's), except that the bundle is loaded at the
    first TLS connection instead of at start-up: parsing it is a noticeable share of a short CLI
    command that never connects anywhere. Until then the context trusts nothing (it fails closed)."""

    _loaded = False
    _lock = threading.Lock()

    def __new__(cls) -> DeferredCAContext:
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)  # verify_mode CERT_REQUIRED, check_hostname

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            if os.environ.get("SSL_CERT_FILE"):
                self.load_verify_locations(cafile=os.environ["SSL_CERT_FILE"])
            elif os.environ.get("SSL_CERT_DIR"):
                self.load_verify_locations(capath=os.environ["SSL_CERT_DIR"])
            else:
                import certifi

                self.load_verify_locations(cafile=certifi.where())
            self._loaded = True

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:  # the async path (anyio)
        self._load()
        return super().wrap_bio(*args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._load()
        return super().wrap_socket(*args, **kwargs)


class GuardedTransport(httpx.AsyncBaseTransport):
    """httpx's transport seam over an httpcore pool whose network backend is the egress policy.

    It does what `httpx.AsyncHTTPTransport` does with its own pool (which offers no public hook for
    the network backend): requests go to httpcore as they are, responses stream back, and httpcore's
    exceptions become their httpx counterparts. Anything else (`EgressDenied`) passes through as is.
    """

    def __init__(self, pool: httpcore.AsyncConnectionPool) -> None:
        self.pool = pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_exceptions():
            response = await self.pool.handle_async_request(core_request)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.pool.aclose()


class _ResponseStream(httpx.AsyncByteStream):
    """A response body read from httpcore, its errors raised as httpx's."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self.stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_exceptions():
            async for part in self.stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self.stream, "aclose", None)
        if close is not None:
            await close()


_HTTPCORE_TO_HTTPX: dict[type[Exception], type[httpx.HTTPError]] = {
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
}
"""httpcore's exceptions and httpx's, as httpx maps them for its own transport."""


@contextmanager
def _httpx_exceptions() -> Iterator[None]:
    """Re-raise an httpcore exception as the most specific httpx one (same message, chained)."""
    try:
        yield
    except Exception as exc:
        mapped: type[httpx.HTTPError] | None = None
        for core, ours in _HTTPCORE_TO_HTTPX.items():
            if isinstance(exc, core) and (mapped is None or issubclass(ours, mapped)):
                mapped = ours
        if mapped is None:
            raise
        raise mapped(str(exc)) from exc


def build_http_transport(policy: EgressPolicy) -> GuardedTransport:
    """The one outbound transport: every connection checked against the policy, no retries."""
    return GuardedTransport(
        httpcore.AsyncConnectionPool(
            ssl_context=DeferredCAContext(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            retries=0,
            network_backend=GuardedNetworkBackend(policy),
        )
    )


def build_http_client(
    policy: EgressPolicy, *, max_redirects: int = 5, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The one shared outbound client: policy-checked connections, no environment proxies. API-call
    actions send through its `transport` and follow redirects themselves (see executors/http.py)."""
    return httpx.AsyncClient(
        transport=transport or build_http_transport(policy),
        trust_env=False,
        follow_redirects=True,
        max_redirects=max_redirects,
        headers={"User-Agent": "guru-mcp/0.1"},
    )
