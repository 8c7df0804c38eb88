"""The admin console in a real headless Chromium: an admin's whole journey through every page.

One server and one browser for the module; the tests run in order, each continuing where the last
stopped (as an admin would). A screenshot of each page goes to the module's output directory
(`GURU_MCP_TEST_SCREENSHOTS` overrides it).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urljoin

import pytest
from playwright.sync_api import expect

from tests.console.conftest import Console

pytestmark = pytest.mark.browser

SECRET_VALUE = "pto-s3cret-4f9a2c7e"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    target = os.environ.get("GURU_MCP_TEST_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def page(browser, console: Console):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("dialog", lambda dialog: dialog.accept())
    page.errors = errors
    yield page
    context.close()


def snap(page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def type_code(page, code: str) -> None:
    """Replace the code in the Python editor (CodeMirror) by typing, as an admin would."""
    page.click(".CodeMirror")
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type(code)
    page.click("input[name=name]")  # leaving the editor sends a change


def no_script_errors(page) -> None:
    """Nothing the page ran failed, and the CSP blocked nothing of ours."""
    assert page.errors == [], page.errors


def test_an_admin_logs_in_with_an_admin_token(page, console: Console, shots: Path):
    page.goto(console.admin + "/actions")
    assert "/admin/login" in page.url
    snap(page, shots, "01-login")
    page.fill("input[name=token]", console.admin_token)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/actions$"))
    assert page.locator("h1").inner_text() == "Actions"
    no_script_errors(page)


def test_the_editor_shows_a_bad_placeholder_inline_and_creates_the_fixed_action(
    page, console, echo_api, shots
):
    page.click("text=New API call")
    page.wait_for_url(re.compile(r"/actions/new"))
    page.fill("input[name=name]", "pto_balance")
    page.fill("input[name=title]", "PTO balance")
    page.fill("textarea[name=condition_prompt]", "When someone asks how many days off they have left.")
    page.click("button[data-add-row=params]")
    row = page.locator("#params tbody tr").first
    row.locator("input[name=p_name]").fill("user")
    row.locator("input[name=p_description]").fill("Whose balance")
    row.locator("select[name=p_required]").select_option("yes")
    page.fill("input[name=endpoint]", echo_api.url + "/pto?user={usr}")
    page.locator("input[name=endpoint]").dispatch_event("change")
    error = page.locator("#err-config-endpoint")
    error.get_by_text("{usr} names no parameter").wait_for()
    assert "problem" in page.locator("#validation").inner_text()
    snap(page, shots, "02-editor-validation-error")

    page.fill("input[name=endpoint]", echo_api.url + "/pto?user={user}")
    page.locator("input[name=endpoint]").dispatch_event("change")
    page.get_by_text("Valid: ready to save").wait_for()
    assert error.inner_text().strip() == ""
    page.click("#save")
    page.wait_for_url(re.compile(r"/admin/actions/pto_balance\?saved="))
    assert "Action created" in page.locator(".note").inner_text()
    assert "v1" in page.locator("h1").inner_text()
    no_script_errors(page)


def test_the_test_panel_runs_the_action_against_a_local_server(page, console, echo_api, shots):
    page.fill("#test-form textarea[name=arguments]", json.dumps({"user": "ada"}))
    page.click("#run-test")
    output = page.locator("#test-output")
    output.get_by_text('"remaining": 12').wait_for()
    facts = page.locator("#test-facts").inner_text()
    assert "ok" in facts and "127.0.0.1" in facts and " ms" in facts
    assert echo_api.last()["query"] == {"user": "ada"}
    snap(page, shots, "03-editor-test-panel")
    no_script_errors(page)


def test_editing_the_action_makes_version_two(page, console, echo_api, shots):
    page.fill("input[name=title]", "PTO balance (HR API)")
    page.click("button[data-add-row=headers]")
    header = page.locator("#headers tbody tr").first
    header.locator("input[name=h_key]").fill("X-Team")
    header.locator("input[name=h_value]").fill("people-ops")
    page.click("#save")
    page.wait_for_url(re.compile(r"saved="))
    assert "v2" in page.locator("h1").inner_text()
    assert page.locator("input[name=title]").input_value() == "PTO balance (HR API)"
    page.fill("#test-form textarea[name=arguments]", json.dumps({"user": "grace"}))
    page.click("#run-test")
    page.locator("#test-output").get_by_text('"user": "grace"').wait_for()
    assert echo_api.last()["headers"]["x-team"] == "people-ops"


def test_history_shows_the_diff_and_rolls_back_to_version_one(page, console, shots):
    page.click("text=History")
    page.wait_for_url(re.compile(r"/actions/pto_balance/history$"))
    table = page.locator("#versions-table")
    assert "v2" in table.inner_text() and "ada@corp.example" in table.inner_text()
    snap(page, shots, "05-history")
    page.click("text=Diff with v1")
    page.wait_for_url(re.compile(r"/diff\?from=1&to=2"))
    diff = page.locator("#diff").inner_text()
    assert "title" in diff and "PTO balance (HR API)" in diff and "X-Team" in diff
    snap(page, shots, "06-diff")
    page.click("#rollback")
    page.wait_for_url(re.compile(r"/actions/pto_balance\?saved="))
    assert "rolled back to v1 as v3" in page.locator(".note").inner_text()
    assert "v3" in page.locator("h1").inner_text()
    assert page.locator("input[name=title]").input_value() == "PTO balance"
    assert page.locator("#headers tbody input[name=h_key]").count() == 0
    no_script_errors(page)


def test_the_actions_list_shows_status_version_and_24h_figures(page, console, shots):
    page.goto(console.admin + "/actions")
    row = page.locator("#actions-table tbody tr", has_text="pto_balance")
    text = row.inner_text()
    assert "enabled" in text and "v3" in text and "0.0%" in text
    assert re.search(r"\b2\b", text)  # two test runs in the last 24 h
    page.fill("input[name=q]", "nothing-matches")
    page.get_by_text("No actions match these filters").wait_for()
    page.fill("input[name=q]", "pto")
    row.wait_for()
    snap(page, shots, "04-actions")
    no_script_errors(page)


def test_run_history_finds_the_runs_and_a_run_shows_its_config_snapshot(page, console, echo_api, shots):
    page.goto(console.admin + "/runs")
    page.select_option("select[name=action]", "pto_balance")
    page.locator("#runs-table tbody tr", has_text="grace").first.wait_for()
    page.fill("input[name=q]", "grace")
    page.locator("#runs-table tbody tr").first.wait_for()
    expect(page.locator("#runs-table tbody tr")).to_have_count(1)
    snap(page, shots, "07-runs")
    # Follow the row's link by its address: a click can land on a table htmx is still swapping.
    href = page.locator("#runs-table tbody tr", has_text="grace").locator("a").first.get_attribute("href")
    page.goto(urljoin(page.url, href))
    page.wait_for_url(re.compile(r"/admin/runs/[0-9a-f-]{36}$"))
    assert '"user": "grace"' in page.locator("#run-inputs").inner_text()
    assert '"remaining": 12' in page.locator("#run-output").inner_text()
    # the run was of v2, which had the header; the action is at v3 (rolled back) now
    assert "v2" in page.locator("#run-facts").inner_text()
    snapshot = page.locator("#config-snapshot").inner_text()
    assert "/pto?user={user}" in snapshot and "X-Team" in snapshot and "PTO balance (HR API)" in snapshot
    snap(page, shots, "08-run")
    no_script_errors(page)


def test_analytics_draws_charts_with_the_runs(page, console, shots):
    page.goto(console.admin + "/analytics?action=pto_balance&window=24h")
    page.wait_for_selector("#chart-runs canvas")
    points = int(page.get_attribute("#chart-runs", "data-points"))
    assert points >= 1
    assert page.locator("#summary").inner_text().count("2") >= 1
    series = json.loads(page.locator("#chart-data").inner_text())
    assert sum(series["runs"]) == 2 and any(v for v in series["p95_ms"] if v)
    page.click("text=7d")
    page.wait_for_url(re.compile(r"window=7d"))
    page.wait_for_selector("#chart-duration canvas")
    snap(page, shots, "09-analytics")
    no_script_errors(page)


def test_a_secret_is_set_write_only_and_its_value_is_on_no_page(page, console, echo_api, shots):
    page.goto(console.admin + "/secrets")
    page.fill("input[name=name]", "PTO_TOKEN")
    page.fill("input[name=value]", SECRET_VALUE)
    page.check("input[name=hosts_mode][value=only]")
    page.fill("input[name=hosts]", "127.0.0.1")
    page.click("#set button[type=submit]")
    page.get_by_text("Created PTO_TOKEN").wait_for()
    assert "127.0.0.1" in page.locator("#secrets-table tr", has_text="PTO_TOKEN").inner_text()
    assert SECRET_VALUE not in page.content()
    # Use it: a header carrying the secret, sent to a path that echoes the request back (masked).
    page.goto(console.admin + "/actions/pto_balance")
    page.fill("input[name=endpoint]", echo_api.url + "/echo?user={user}")
    page.click("button[data-add-row=headers]")
    page.locator("#headers tbody tr input[name=h_key]").first.fill("X-Team")
    page.locator("#headers tbody tr input[name=h_value]").first.fill("{PTO_TOKEN}")
    page.click("#save")
    page.wait_for_url(re.compile(r"saved="))
    page.click("#run-test")
    page.locator("#test-output").get_by_text("[REDACTED]").wait_for()
    assert echo_api.last()["headers"]["x-team"] == SECRET_VALUE  # it really was sent
    for path in ("/secrets", "/actions", "/actions/pto_balance", "/runs", "/analytics", "/transfer"):
        page.goto(console.admin + path)
        assert SECRET_VALUE not in page.content(), path
    page.goto(console.admin + "/runs?action=pto_balance")
    page.locator("#runs-table tbody tr a").first.click()
    page.wait_for_url(re.compile(r"/admin/runs/"))
    assert SECRET_VALUE not in page.content()
    assert "[REDACTED]" in page.locator("#run-output").inner_text()
    page.goto(console.admin + "/secrets")
    assert "pto_balance" in page.locator("#secrets-table").inner_text()
    snap(page, shots, "10-secrets")
    page.click("#secrets-table >> text=Delete…")
    page.wait_for_url(re.compile(r"/secrets/PTO_TOKEN/delete"))
    assert "pto_balance" in page.locator("#will-disable").inner_text()
    snap(page, shots, "11-secret-delete")
    no_script_errors(page)


def test_import_previews_a_field_diff_before_applying(page, console, shots):
    page.goto(console.admin + "/transfer")
    exported = page.request.get(console.admin + "/transfer/export.json?name=pto_balance").json()
    assert exported[0]["name"] == "pto_balance" and SECRET_VALUE not in json.dumps(exported)
    exported[0]["title"] = "PTO balance (imported)"
    page.fill("textarea[name=document]", json.dumps(exported))
    page.click("button[name=apply][value=no]")
    page.wait_for_selector("#import-report")
    diff = page.locator("table.diff").inner_text()
    assert "title" in diff and "PTO balance (imported)" in diff
    snap(page, shots, "12-import-preview")
    page.click("#apply-import")
    page.get_by_text("Imported").first.wait_for()
    page.goto(console.admin + "/actions/pto_balance")
    assert page.locator("input[name=title]").input_value() == "PTO balance (imported)"
    no_script_errors(page)


def test_a_python_action_shows_lint_messages_and_its_schedules_next_fire_times(page, console, shots):
    page.goto(console.admin + "/actions/new?type=PYTHON_CODE")
    assert page.locator("fieldset[data-type=API_CALL]").is_hidden()
    page.fill("input[name=name]", "weekly_digest")
    type_code(page, "import os\nimport subprocess\nprint(subprocess.run(['ls']))\n")
    lint = page.locator("#err-config-code")
    lint.get_by_text("line 2: `subprocess`").wait_for()
    expect(page.locator(".CodeMirror .lint-line")).to_have_count(1)  # the lint's line is marked in the editor
    assert "subprocess" in page.locator(".CodeMirror .lint-line").inner_text()
    page.fill("input[name=cron]", "0 9 * * 1-5")
    page.fill("input[name=timezone]", "Europe/Berlin")
    page.locator("input[name=timezone]").dispatch_event("change")
    fires = page.locator("#next-fires li")
    expect(fires).to_have_count(5)
    assert all(re.search(r"09:00:00 CES?T$", t) for t in fires.all_inner_texts())
    snap(page, shots, "13-editor-python-lint-schedule")
    type_code(page, "import os\nprint('digest for', os.environ.get('GURUBASE_GURU_SLUG'))\n")
    page.get_by_text("Valid: ready to save").wait_for()
    expect(page.locator(".CodeMirror .lint-line")).to_have_count(0)
    assert lint.inner_text().strip() == ""
    page.click("#save")
    page.wait_for_url(re.compile(r"/actions/weekly_digest\?saved="))
    assert page.locator("#next-fires li").count() == 5
    no_script_errors(page)
