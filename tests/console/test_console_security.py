"""The console's protections over plain HTTP against the real server: authentication, the admin
check, CSRF, headers, cookies, and escaping of untrusted output."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.console.conftest import Console, csrf_of, login

SECURITY = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@pytest.fixture
def admin(console: Console):
    with httpx.Client(timeout=30) as client:
        answer = login(client, console, console.admin_token)
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/actions"
        yield client


def test_without_credentials_pages_send_to_login_and_posts_are_refused(console: Console):
    with httpx.Client(timeout=30) as client:
        page = client.get(console.admin + "/actions")
        assert page.status_code == 303 and page.headers["location"].startswith("/admin/login?next=")
        assert client.get(console.admin + "/runs", headers={"hx-request": "true"}).status_code == 401
        refused = client.post(console.admin + "/secrets", data={"name": "X_TOKEN", "value": "abcdefgh1234"})
        assert refused.status_code == 401
        assert client.get(console.admin + "/analytics/data").status_code == 303
        client.cookies.set("guru_console", "AAAA" * 20, path="/admin")
        assert client.get(console.admin + "/actions").status_code == 303  # a forged session is no session
    assert "X_TOKEN" not in console.cli("secrets", "list")


def test_a_non_admin_token_gets_403_by_header_and_at_login(console: Console):
    with httpx.Client(timeout=30) as client:
        header = {"authorization": f"Bearer {console.user_token}"}
        for path in ("/actions", "/runs", "/secrets", "/analytics", "/transfer/export.json"):
            assert client.get(console.admin + path, headers=header).status_code == 403, path
        assert (
            client.post(
                console.admin + "/secrets", headers=header, data={"name": "A_B", "value": "x" * 9}
            ).status_code
            == 403
        )
        answer = login(client, console, console.user_token)
        assert answer.status_code == 403 and "not an admin token" in answer.text
        assert "guru_console=" not in answer.headers.get("set-cookie", "")
        assert login(client, console, "gmcp_unknown").status_code == 401
        logged = console.log.read_text()
        assert "console: POST /admin/login from 127.0.0.1: login with an unknown or revoked token" in logged
        assert "login with a token that is not an admin's" in logged and "GET /admin/actions" in logged
        assert console.user_token not in logged and "gmcp_unknown" not in logged
        # An admin bearer header works without a session (and so without CSRF: browsers never add it).
        admin_header = {"authorization": f"Bearer {console.admin_token}"}
        assert client.get(console.admin + "/actions", headers=admin_header).status_code == 200


def test_a_post_without_the_sessions_csrf_token_is_refused(console: Console, admin: httpx.Client):
    page = admin.get(console.admin + "/secrets")
    token = csrf_of(page.text)
    assert token and f'name="csrf" value="{token}"' in page.text
    for data in (
        {"name": "CSRF_TEST", "value": "abcdefgh1234"},
        {"name": "CSRF_TEST", "value": "abcdefgh1234", "csrf": "forged"},
    ):
        refused = admin.post(console.admin + "/secrets", data=data)
        assert refused.status_code == 403 and "CSRF" in refused.text
    assert "CSRF_TEST" not in console.cli("secrets", "list")
    accepted = admin.post(
        console.admin + "/secrets", data={"name": "CSRF_TEST", "value": "abcdefgh1234", "csrf": token}
    )
    assert accepted.status_code == 303
    assert "CSRF_TEST" in console.cli("secrets", "list")
    # htmx requests carry it as a header instead
    assert admin.post(console.admin + "/actions/validate", data={"name": "x"}).status_code == 403
    assert (
        admin.post(
            console.admin + "/actions/validate", data={"name": "x"}, headers={"x-csrf-token": token}
        ).status_code
        == 200
    )


def test_the_login_form_has_its_own_csrf_check(console: Console):
    with httpx.Client(timeout=30) as client:
        answer = client.post(console.admin + "/login", data={"token": console.admin_token, "csrf": "x"})
        assert answer.status_code == 403 and "guru_console=" not in answer.headers.get("set-cookie", "")


def test_every_page_has_a_strict_csp_and_refuses_framing(console: Console, admin: httpx.Client):
    for path in (
        "/login",
        "/actions",
        "/actions/new",
        "/runs",
        "/analytics",
        "/secrets",
        "/transfer",
        "/static/console.js",
    ):
        answer = admin.get(console.admin + path)
        assert answer.status_code == 200, path
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp and "default-src 'none'" in csp
        for name, value in SECURITY.items():
            assert answer.headers[name] == value, (path, name)
        if not path.startswith("/static"):
            assert answer.headers["cache-control"] == "no-store"
            assert "<script>" not in answer.text  # no inline script anywhere
    assert admin.get(console.admin + "/actions").headers["content-security-policy"]


def test_the_session_cookie_is_httponly_and_samesite_strict(console: Console):
    with httpx.Client(timeout=30) as client:
        answer = login(client, console, console.admin_token)
        cookie = next(
            v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("guru_console=")
        )
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
        assert console.admin_token not in cookie  # sealed, not readable
        logout = client.post(
            console.admin + "/logout", data={"csrf": csrf_of(client.get(console.admin + "/actions").text)}
        )
        assert logout.status_code == 303
        assert client.get(console.admin + "/actions").status_code == 303


PAYLOAD = "<script>document.title='pwned'</script>"


@pytest.fixture(scope="module")
def xss_run(console: Console, echo_api) -> tuple[httpx.Client, str]:
    """An action titled with markup, run through the Test panel with a script tag as its argument
    (the echo server sends it back in the output). Returns the admin client and the run's page body."""
    client = httpx.Client(timeout=30)
    login(client, console, console.admin_token)
    token = csrf_of(client.get(console.admin + "/actions/new").text)
    created = client.post(
        console.admin + "/actions/new",
        data={
            "csrf": token,
            "name": "xss_probe",
            "action_type": "API_CALL",
            "enabled": "on",
            "title": "<img src=x onerror=alert(1)>",
            "endpoint": echo_api.url + "/echo?v={v}",
            "method": "GET",
            "p_name": "v",
            "p_type": "string",
            "p_description": "",
            "p_required": "no",
            "p_default": "",
        },
    )
    assert created.status_code == 303, created.text
    result = client.post(
        console.admin + "/actions/xss_probe/test",
        data={"arguments": json.dumps({"v": PAYLOAD})},
        headers={"x-csrf-token": token, "hx-request": "true"},
    )
    assert result.status_code == 200
    yield client, result.text
    client.close()


def test_an_output_holding_a_script_tag_is_shown_as_text(console: Console, xss_run):
    client, fragment = xss_run
    assert PAYLOAD not in fragment and "&lt;script&gt;document.title=" in fragment
    run_id = re.search(r"/admin/runs/([0-9a-f-]{36})", fragment).group(1)
    for path in (f"/runs/{run_id}", "/runs?action=xss_probe", "/actions/xss_probe", "/actions"):
        page = client.get(console.admin + path).text
        assert PAYLOAD not in page and "<img src=x" not in page, path


@pytest.mark.browser
def test_in_the_browser_the_script_in_an_output_never_runs(browser, console: Console, xss_run):
    client, _ = xss_run
    context = browser.new_context()
    try:
        context.add_cookies(
            [
                {
                    "name": "guru_console",
                    "value": client.cookies["guru_console"],
                    "url": console.base + "/admin",
                }
            ]
        )
        page = context.new_page()
        page.goto(console.admin + "/runs?action=xss_probe")
        page.locator("#runs-table tbody tr a").first.click()
        page.wait_for_selector("#run-output")
        assert PAYLOAD in page.locator("#run-inputs").inner_text()
        assert page.title() != "pwned"
        page.goto(console.admin + "/actions/xss_probe")
        assert page.locator("input[name=title]").input_value() == "<img src=x onerror=alert(1)>"
        assert page.title() != "pwned"
    finally:
        context.close()
