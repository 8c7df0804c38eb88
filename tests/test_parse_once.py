"""A Python action's code is parsed once on save: the syntax check, the compiler's own checks, the lint
and the secret-read checks all work on the one tree."""

from __future__ import annotations

import ast
import builtins
from typing import Any

import pytest

from guru_mcp.errors import ValidationFailed
from guru_mcp.models import parse_spec

CODE = "import os\n\nprint(os.environ.get('CITY', 'Paris'), os.getenv('API_TOKEN'))\n"


class ParseCounter:
    """Counts `ast.parse` calls and parses of source text (every `compile` of a string, which is what
    `ast.parse` does underneath) for one piece of code."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, code: str) -> None:
        self.ast_parse = 0
        self.source_parses = 0
        real_parse, real_compile = ast.parse, builtins.compile

        def parse(source: Any, *args: Any, **kwargs: Any) -> Any:
            if source == code:
                self.ast_parse += 1
            return real_parse(source, *args, **kwargs)

        def compile_(source: Any, *args: Any, **kwargs: Any) -> Any:
            if source == code:
                self.source_parses += 1
            return real_compile(source, *args, **kwargs)

        monkeypatch.setattr(ast, "parse", parse)
        monkeypatch.setattr(builtins, "compile", compile_)


def python_action(code: str, **extra: Any) -> dict[str, Any]:
    return {"name": "probe", "action_type": "PYTHON_CODE", "config": {"code": code}, **extra}


@pytest.mark.anyio
async def test_saving_a_python_action_parses_its_code_once(app, monkeypatch):
    counter = ParseCounter(monkeypatch, CODE)
    result = await app.catalog.save_spec("default", parse_spec(python_action(CODE, secrets=["API_TOKEN"])))
    assert (counter.ast_parse, counter.source_parses) == (1, 1)
    # ... and the checks that used to parse it again still ran on the tree: the secret is missing.
    assert not result.action.enabled and "missing secrets: API_TOKEN" in result.action.disabled_reason


@pytest.mark.anyio
async def test_code_with_a_syntax_error_is_parsed_once_and_refused(app, monkeypatch):
    broken = "print(1\n"
    counter = ParseCounter(monkeypatch, broken)
    with pytest.raises(ValidationFailed) as refused:
        await app.catalog.save_spec("default", parse_spec(python_action(broken)))
    assert counter.source_parses == 1
    assert [e.field for e in refused.value.errors] == ["config.code"]
    assert refused.value.errors[0].message.startswith("syntax error on line 1:")


@pytest.mark.anyio
async def test_what_only_the_compiler_refuses_is_still_refused(app):
    with pytest.raises(ValidationFailed, match="syntax error on line 2: 'return' outside function"):
        await app.catalog.save_spec("default", parse_spec(python_action("x = 1\nreturn x\n")))
