"""Text made safe for a terminal, for everything the CLI prints.

Run output, errors, action names and titles come from scripts, remote APIs and imported files. Printed
raw, an escape sequence (`ESC ] 0 ; title BEL`, CSI colour and cursor codes, C1 controls such as
U+009B) could drive the operator's terminal, a newline could forge a table row, and a bidi override
could make a line read differently from what it holds. Every CLI output path goes through here: table
cells through `safe_text`, JSON through `safe_json` (still valid JSON, with the same data).
"""

from __future__ import annotations

import json
from typing import Any

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def safe_text(value: Any) -> str:
    """`value` as one line of printable text: control, format (bidi, zero-width), separator and other
    non-printable characters are shown as backslash escapes (`\\x1b`, `\\n`, `\\u202e`)."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def safe_json(data: Any, *, indent: int | None = 2) -> str:
    """JSON text for a terminal: like `json.dumps(..., ensure_ascii=False)`, but every non-printable
    character inside a string is a `\\uXXXX` escape, so the JSON parses back to the same data."""
    text = json.dumps(data, indent=indent, ensure_ascii=False, default=str)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in "\n " else _json_escape(c) for c in text)
