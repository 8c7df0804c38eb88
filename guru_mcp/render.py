"""Text for a terminal: escaping of untrusted values, tables, JSON and diffs. Pure functions.

Action outputs, errors, names and titles are untrusted: a value holding an escape sequence could
move the cursor, rewrite what an operator sees or set the window title. Everything the CLI prints
that came from data passes `clean` (or `cell`, in tables): control characters (C0, DEL, C1) and
bidirectional overrides become visible escapes (`\\x1b`, `\\u202e`). In tables newlines become
`\\n` as well, so a multi-line value stays in its row.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

_BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_BIDI}]")
_UNSAFE_IN_CELL = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{_BIDI}]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: Any) -> str:
    """`text` safe to print: control characters escaped, newlines and tabs kept."""
    return _UNSAFE.sub(_escape, str(text))


def cell(value: Any, width: int | None = None) -> str:
    """One table cell: on one line, control characters and newlines escaped, cut to `width`."""
    if value is None:
        text = "-"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    text = _UNSAFE_IN_CELL.sub(_escape, text)
    if width is not None and len(text) > width:
        text = text[: max(width - 1, 0)] + "…"
    return text


def table(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    widths: dict[str, int] | None = None,
) -> str:
    """Rows as aligned columns under a header. `columns` is [(key, header)]; `widths` caps columns."""
    widths = widths or {}
    cells = [[cell(row.get(key), widths.get(key)) for key, _ in columns] for row in rows]
    headers = [header for _, header in columns]
    sizes = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(sizes[i]) for i, h in enumerate(headers)).rstrip()]
    lines += ["  ".join(c.ljust(sizes[i]) for i, c in enumerate(r)).rstrip() for r in cells]
    return "\n".join(lines)


def to_json(data: Any) -> str:
    """JSON for scripts, with C1 controls and bidirectional overrides escaped like the C0 ones."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    return re.sub(f"[\\x7f-\\x9f{_BIDI}]", lambda m: f"\\u{ord(m.group()):04x}", text)


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def changes(items: list[dict[str, Any]], *, indent: str = "  ") -> list[str]:
    """Lines for field-by-field changes (`guru_mcp.versions.diff`): `~ field: old -> new`; a multi-line
    text (code) as a unified diff."""
    lines: list[str] = []
    marks = {"added": "+", "removed": "-", "changed": "~", "reordered": "~"}
    for item in items:
        mark, field = marks.get(item["change"], "~"), item["field"] or "(whole)"
        old, new = item.get("from"), item.get("to")
        if (
            item["change"] == "changed"
            and isinstance(old, str)
            and isinstance(new, str)
            and "\n" in old + new
        ):
            lines.append(f"{indent}{mark} {clean(field)}:")
            body = difflib.unified_diff(
                old.splitlines(), new.splitlines(), "before", "after", lineterm="", n=2
            )
            lines += [f"{indent}    {clean(line)}" for line in list(body)[2:]]
        elif item["change"] == "added":
            lines.append(f"{indent}{mark} {cell(field)}: {cell(_value(new))}")
        elif item["change"] == "removed":
            lines.append(f"{indent}{mark} {cell(field)}: {cell(_value(old))}")
        else:
            lines.append(f"{indent}{mark} {cell(field)}: {cell(_value(old))} -> {cell(_value(new))}")
    return lines
