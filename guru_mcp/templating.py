"""`{name}` placeholders of API-call actions, filled once and by context (docs/architecture.md section 4).

- URL: a value in the path, query or fragment is percent-encoded whole (`/`, `?`, `&`, `#` included),
  so it can never add a path segment or a query parameter. A value in the host must look like a host
  name. A placeholder that opens the URL (`{BASE_URL}/v1/...`) must hold an absolute http(s) URL.
- Headers: the value is inserted as text; a result holding CR, LF or NUL is refused.
- JSON body: filled on the parsed document. A string that is exactly `{name}` becomes the typed value
  (numbers stay numbers, booleans booleans); other strings get text substitution, and the JSON encoder
  escapes quotes and braces.

Substitution is a single pass: a value that itself contains `{SECRET}` is inserted literally, never
expanded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from guru_mcp.errors import RunFailure
from guru_mcp.models import PLACEHOLDER_RE, ApiCallConfig, env_text

_HOST_VALUE = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?")
"""Applied with `fullmatch` (`$` would let a trailing newline through)."""


def placeholders(config: ApiCallConfig) -> Iterator[tuple[str, str]]:
    """(field, name) for every placeholder in an API-call configuration."""
    for match in PLACEHOLDER_RE.finditer(config.endpoint):
        yield "config.endpoint", match.group(1)
    for i, header in enumerate(config.headers):
        for match in PLACEHOLDER_RE.finditer(header.value):
            yield f"config.headers[{i}].value", match.group(1)
    yield from _body_placeholders(config.body, "config.body")


def _body_placeholders(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        for match in PLACEHOLDER_RE.finditer(node):
            yield where, match.group(1)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _body_placeholders(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _body_placeholders(value, f"{where}[{i}]")


def _text(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name)
    return "" if value is None else env_text(value)


def _authority_span(template: str) -> tuple[int, int]:
    """Start and end of the host[:port] part of a URL template (placeholders hold no `/?#`)."""
    scheme_end = template.find("://")
    if scheme_end < 0:
        return (0, 0)
    start = scheme_end + 3
    ends = [i for i in (template.find(c, start) for c in "/?#") if i >= 0]
    return (start, min(ends) if ends else len(template))


def fill_url(template: str, values: Mapping[str, Any]) -> str:
    host_start, host_end = _authority_span(template)
    out: list[str] = []
    pos = 0
    for match in PLACEHOLDER_RE.finditer(template):
        out.append(template[pos : match.start()])
        name = match.group(1)
        value = _text(values, name)
        if match.start() == 0:
            parts = urlsplit(value)
            if (
                parts.scheme not in ("http", "https")
                or not parts.netloc
                or any(c in value for c in " \r\n\t")
            ):
                raise RunFailure(f"{{{name}}} opens the endpoint, so it must hold an absolute http(s) URL")
            out.append(value.rstrip("/") if template[match.end() : match.end() + 1] == "/" else value)
        elif host_start <= match.start() < host_end:
            if not _HOST_VALUE.fullmatch(value):
                raise RunFailure(f"the value of {{{name}}} is not a valid host name")
            out.append(value)
        else:
            out.append(quote(value, safe=""))
        pos = match.end()
    out.append(template[pos:])
    url = "".join(out)
    if urlsplit(url).scheme not in ("http", "https"):
        raise RunFailure("the endpoint is not an http(s) URL after filling its placeholders")
    return url


def fill_text(template: str, values: Mapping[str, Any]) -> str:
    return PLACEHOLDER_RE.sub(lambda m: _text(values, m.group(1)), template)


def fill_header(key: str, template: str, values: Mapping[str, Any]) -> str:
    value = fill_text(template, values)
    if any(c in value for c in "\r\n\0"):
        raise RunFailure(f"header {key}: a value holds a line break or NUL; refused")
    return value


def fill_body(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, str):
        whole = PLACEHOLDER_RE.fullmatch(node)
        if whole:
            return values.get(whole.group(1))
        return fill_text(node, values)
    if isinstance(node, dict):
        return {key: fill_body(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [fill_body(value, values) for value in node]
    return node
