"""Response decoding bounded by the response limit (`executors/decoding.py`): the same bytes as an
unbounded decoder up to the limit, for every coding and any read size, and no more decoded than the
limit however far a compressed body would expand, on both request paths (the plain-HTTP pool and
the httpx transport) against real loopback sockets."""

from __future__ import annotations

import gzip
import os
import tracemalloc
import zlib

import anyio
import pytest

from guru_mcp.egress import EgressPolicy, build_http_client, build_http_transport
from guru_mcp.errors import RunFailure
from guru_mcp.executors.decoding import BoundedDecoder
from guru_mcp.executors.http import HttpExecutor
from guru_mcp.executors.plain_http import PlainHttpPool
from tests.test_plain_http import answer, get, serving

TEXT = os.urandom(3000) + b"abc" * 50_000
BOMB = gzip.compress(b"\0" * (64 << 20), 9)  # ~64 KiB on the wire, 64 MiB decoded
LIMIT = 1 << 20

ENCODED = {
    "gzip": gzip.compress(TEXT),
    "x-gzip": gzip.compress(TEXT),
    "deflate": zlib.compress(TEXT),
    "raw deflate": zlib.compress(TEXT)[2:-4],
    "gzip, gzip": gzip.compress(gzip.compress(TEXT)),
    "deflate, gzip": gzip.compress(zlib.compress(TEXT)),
    "identity": TEXT,
    "br": TEXT,  # not decoded: passes through as it is
}


def decode_all(decoder: BoundedDecoder, body: bytes, read: int) -> bytes:
    parts = [decoder.decode(body[i : i + read]) for i in range(0, len(body), read)]
    return b"".join(parts) + decoder.flush()


# (limit, read size): byte-by-byte reads with small limits, whole reads with every limit
SIZES = [(10, 1), (10, 5), (4096, 1), (4096, 5), *((limit, 65536) for limit in (10, 4096, 100_000, 10**7))]


@pytest.mark.parametrize("coding", ENCODED)
@pytest.mark.parametrize(("limit", "read"), SIZES)
def test_the_decoded_bytes_are_the_body_up_to_one_past_the_limit(coding, limit, read):
    header = "deflate" if coding == "raw deflate" else coding
    got = decode_all(BoundedDecoder.of([header], limit), ENCODED[coding], read)
    assert got == TEXT[: limit + 1]


def test_several_header_fields_are_undone_last_first():
    body = gzip.compress(zlib.compress(TEXT))
    assert decode_all(BoundedDecoder.of(["deflate", "gzip"], 10**7), body, 4096) == TEXT


def test_a_bomb_is_decoded_no_further_than_the_limit():
    tracemalloc.start()
    try:
        got = decode_all(BoundedDecoder.of(["gzip"], LIMIT), BOMB, 65536)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == b"\0" * (LIMIT + 1)
    assert peak < 4 * LIMIT, f"decoding peaked at {peak} bytes for a {LIMIT}-byte limit"


def test_a_corrupt_stream_is_a_zlib_error():
    with pytest.raises(zlib.error):
        decode_all(BoundedDecoder.of(["gzip"], LIMIT), b"\x1f\x8b" + b"not gzip" * 20, 4)


def _peak(work) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = anyio.run(work)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def send_through_httpx(port: int) -> tuple[bytes, bool]:
    """One GET to 127.0.0.1:port on the executor's httpx path (no plain-HTTP pool): body, truncated."""
    policy = EgressPolicy(["127.0.0.1"])
    transport = build_http_transport(policy)
    async with build_http_client(policy, transport=transport) as client:
        executor = HttpExecutor(client, transport=transport, response_limit=LIMIT)
        request = client.build_request("GET", f"http://127.0.0.1:{port}/x")
        _, body, truncated = await executor._send(request, "127.0.0.1", 10)
        return body, truncated


def test_a_bomb_through_the_plain_http_pool_is_cut_at_the_limit_without_expanding():
    with serving(answer(BOMB, "Content-Encoding: gzip")) as server:

        async def work():
            pool = PlainHttpPool(EgressPolicy(["127.0.0.1"]))
            try:
                return await get(pool, server.port, limit=LIMIT)
            finally:
                await pool.aclose()

        reply, peak = _peak(work)
    assert reply.truncated and reply.body == b"\0" * LIMIT
    # 8-9 MiB here with the event loop and the connection; decoding whole chunks peaked at 151 MiB
    assert peak < 16 * LIMIT, f"the request peaked at {peak} bytes for a {LIMIT}-byte limit"


def test_a_bomb_through_the_httpx_transport_is_cut_at_the_limit_without_expanding():
    with serving(answer(BOMB, "Content-Encoding: gzip")) as server:
        (body, truncated), peak = _peak(lambda: send_through_httpx(server.port))
    assert truncated and body == b"\0" * LIMIT
    # 8-9 MiB here with the event loop and the connection; decoding whole chunks peaked at 151 MiB
    assert peak < 16 * LIMIT, f"the request peaked at {peak} bytes for a {LIMIT}-byte limit"


def test_a_corrupt_body_through_the_httpx_transport_is_a_decoding_error():
    with serving(answer(b"\x1f\x8bnot gzip at all", "Content-Encoding: gzip")) as server:
        with pytest.raises(RunFailure, match="DecodingError"):
            anyio.run(send_through_httpx, server.port)


def test_a_small_gzip_body_through_the_httpx_transport_is_decoded_whole():
    with serving(answer(gzip.compress(b'{"ok": true}'), "Content-Encoding: gzip")) as server:
        assert anyio.run(send_through_httpx, server.port) == (b'{"ok": true}', False)
