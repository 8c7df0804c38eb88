"""The console's pure parts: session sealing, where validation messages go, form <-> definition."""

from __future__ import annotations

import time

from starlette.datastructures import FormData

from guru_mcp.console.forms import definition_from_form, form_from_definition, read_form, slot_for
from guru_mcp.console.security import SessionCodec
from guru_mcp.errors import FieldError

KEY = b"s" * 32


def test_a_session_cookie_opens_only_unaltered_with_its_key_and_before_it_expires():
    codec = SessionCodec(KEY, lifetime=60)
    session, cookie = codec.new_session("gmcp_token")
    opened = codec.open_session(cookie)
    assert opened == session and opened.token == "gmcp_token" and len(opened.csrf) >= 24
    assert "gmcp_token" not in cookie
    flipped = cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1]
    assert codec.open_session(flipped) is None
    assert SessionCodec(b"t" * 32, lifetime=60).open_session(cookie) is None
    assert codec.open_session("garbage") is None and codec.open_session("") is None
    expired = SessionCodec(KEY, lifetime=-1)
    assert codec.open_session(expired.new_session("gmcp_token")[1]) is None
    # a login cookie is no session, and a session cookie vouches for no login
    csrf, login_cookie = codec.new_login()
    assert codec.check_login(login_cookie, csrf) and not codec.check_login(login_cookie, csrf + "x")
    assert codec.open_session(login_cookie) is None and not codec.check_login(cookie, session.csrf)
    assert session.expires > time.time()


def test_validation_messages_go_to_the_slot_of_their_field():
    assert slot_for("config.headers[1].value") == "config-headers-1"
    assert slot_for("parameters[0].name") == "parameters-0"
    assert slot_for("config.body.employee") == "config-body"
    assert slot_for("config.endpoint") == "config-endpoint"
    assert slot_for("schedule.arguments.team") == "schedule-arguments"
    assert slot_for("name") == "name"
    assert slot_for("") == "general" and slot_for("whatever") == "general"


def _form(pairs):
    return FormData(pairs)


def test_the_form_becomes_the_definition_import_takes_and_back():
    form = _form(
        [
            ("name", "submit_pto"),
            ("action_type", "API_CALL"),
            ("title", "Submit"),
            ("enabled", "on"),
            ("p_name", "days"),
            ("p_type", "number"),
            ("p_description", "Days"),
            ("p_required", "yes"),
            ("p_default", "2"),
            ("p_name", ""),
            ("p_type", "string"),
            ("p_description", ""),
            ("p_required", "no"),
            ("p_default", ""),
            ("endpoint", "{HR_URL}/timeoff"),
            ("method", "POST"),
            ("h_key", "Authorization"),
            ("h_value", "Bearer {T}"),
            ("body", '{"days": "{days}"}'),
            ("timeout", "15"),
            ("cron", "0 9 * * 1"),
            ("timezone", "Europe/Berlin"),
            ("schedule_arguments", '{"days": 1}'),
            ("overlap", "skip"),
            ("misfire", "run_once"),
            ("schedule_enabled", "on"),
        ]
    )
    editor = read_form(form)
    assert len(editor.params) == 1  # the blank row is dropped
    data, problems = definition_from_form(editor)
    assert problems == []
    assert data["parameters"] == [
        {"name": "days", "type": "number", "description": "Days", "required": True, "default": "2"}
    ]
    assert data["config"] == {
        "endpoint": "{HR_URL}/timeoff",
        "method": "POST",
        "headers": [{"key": "Authorization", "value": "Bearer {T}"}],
        "body": {"days": "{days}"},
        "timeout": 15.0,
    }
    assert data["schedule"]["timezone"] == "Europe/Berlin" and data["schedule"]["arguments"] == {"days": 1}
    again = form_from_definition(
        {**data, "parameters": [{**data["parameters"][0], "default": 2}]}, enabled=True
    )
    assert again.values["timeout"] == "15" and again.params[0]["p_default"] == "2"
    assert again.headers == [{"h_key": "Authorization", "h_value": "Bearer {T}"}]


def test_text_fields_that_are_not_json_are_reported_by_field():
    editor = read_form(
        _form(
            [
                ("name", "x"),
                ("action_type", "API_CALL"),
                ("endpoint", "http://h/"),
                ("body", "{nope"),
                ("cron", "* * * * *"),
                ("schedule_arguments", "[1]"),
                ("timeout", "soon"),
            ]
        )
    )
    _, problems = definition_from_form(editor)
    fields = [p.field for p in problems]
    assert fields == ["config.timeout", "config.body", "schedule.arguments"]
    editor.add([*problems, FieldError("config.headers[3].value", "bad")])
    assert "config-timeout" in editor.errors and "config-body" in editor.errors
    assert editor.errors["config-headers"] == ["bad"]  # no row 3 in this form: the table's own slot
