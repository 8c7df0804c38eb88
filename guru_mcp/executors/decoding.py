"""Content-Encoding decoding of API-call responses, bounded by the response limit.

A compressed body can expand about a thousandfold: one 64 KiB read of a gzip "bomb" is 64 MiB once
decoded, before any limit counted it. `BoundedDecoder` never makes more than `limit + 1` decoded
bytes in all: every decompression is given a maximum output length (`zlib`'s `max_length`), the
input it did not consume yet is kept (`unconsumed_tail`) and consumed on a later call, and a body
that goes past the limit stops being decoded (the reader truncates it there). Memory per response
is therefore the limit plus one read, however the body is encoded.

It decodes as httpx does (both the plain-HTTP pool and the httpx transport read raw bytes through
it): gzip (`gzip`, `x-gzip`), deflate (zlib-wrapped, or raw as some servers send it), identity;
several codings are undone last first; any other coding is passed through as it is. Bytes after the
end of a compressed stream are ignored. A corrupt stream raises `zlib.error`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable


class _Step:
    """One decompression whose output per call is capped; the input it did not consume is kept."""

    def __init__(self, wbits: int, *, raw_fallback: bool = False) -> None:
        self._obj = zlib.decompressobj(wbits)
        self._tail = b""
        self._probe: bytes | None = b"" if raw_fallback else None
        """deflate: zlib-wrapped by the standard, raw from some servers. Until zlib has accepted
        the 2-byte header, the input so far, to be decoded again as raw deflate if it refuses."""

    @property
    def pending(self) -> bool:
        return bool(self._tail)

    def run(self, data: bytes, cap: int) -> bytes:
        """At most `cap` (> 0) decoded bytes of what is kept and `data`."""
        data = self._tail + data if self._tail else data
        if not data:
            return b""
        if self._probe is None:
            out = self._obj.decompress(data, cap)
        else:
            probe = self._probe + data
            try:
                out = self._obj.decompress(data, cap)
            except zlib.error:
                self._obj, self._probe = zlib.decompressobj(-zlib.MAX_WBITS), None
                out = self._obj.decompress(probe, cap)
            else:
                self._probe = probe if len(probe) < 2 else None
        self._tail = self._obj.unconsumed_tail
        return out

    def flush(self) -> bytes:
        # Input is consumed (no tail) when this is called: zlib has delivered all it can already.
        return self._obj.flush()


def _step(coding: str) -> _Step | None:
    if coding in ("gzip", "x-gzip"):
        return _Step(zlib.MAX_WBITS | 16)
    if coding == "deflate":
        return _Step(zlib.MAX_WBITS, raw_fallback=True)
    return None  # identity, or a coding we do not decode: the bytes pass through


class BoundedDecoder:
    """Decodes one response body; all calls together return at most `limit + 1` bytes, so a reader
    that stops at more than `limit` sees the truncation without the rest being decoded."""

    def __init__(self, codings: Iterable[str], limit: int) -> None:
        steps = [_step(c) for c in reversed(list(codings))]
        self._steps = [s for s in steps if s is not None]
        self._left = limit + 1

    @classmethod
    def of(cls, header_values: Iterable[str], limit: int) -> BoundedDecoder:
        """For the values of a response's Content-Encoding header fields (in order)."""
        codings = [c.strip().lower() for value in header_values for c in value.split(",") if c.strip()]
        return cls(codings, limit)

    def decode(self, data: bytes) -> bytes:
        """The decoded bytes of the next part of the body."""
        return self._pump(data, 0)

    def flush(self) -> bytes:
        """What is left once the whole body was given to `decode`."""
        out = [self.decode(b"")]  # every step has consumed its input now (or the limit is reached)
        for i, step in enumerate(self._steps):
            if self._left <= 0:
                break
            out.append(self._pump(step.flush(), i + 1))
        return b"".join(out)

    def _pump(self, data: bytes, start: int) -> bytes:
        """`data` through the steps from `start` on, until each has consumed what it holds or the
        limit is reached. Every round makes progress: a step keeps input only when its output
        filled the cap it was given."""
        steps = self._steps[start:]
        if not steps:
            return self._count(data[: self._left])
        out: list[bytes] = []
        while self._left > 0:
            chunk, data = data, b""
            for step in steps:
                chunk = step.run(chunk, self._left)
            out.append(self._count(chunk))
            if not any(step.pending for step in steps):
                break
        return b"".join(out)

    def _count(self, data: bytes) -> bytes:
        self._left -= len(data)
        return data
