"""Progress notifications: the per-run stream (masking, rate limit, increasing values) and API calls
through an MCP client of either generation."""

import anyio
import pytest

from guru_mcp.models import parse_spec
from guru_mcp.progress import ProgressStream, open_stream
from guru_mcp.secrets import Masker
from tests.conftest import USER, api_action, connect

MODES = ["legacy", "2026-07-28"]
SECRET = "tok_abcdef123456"


def collector():
    sent = []
    got = anyio.Event()

    async def send(progress, total, message):
        sent.append((progress, total, message))
        got.set()

    return sent, send


@pytest.mark.anyio
async def test_the_stream_masks_secrets_and_holds_back_what_comes_too_soon():
    sent, send = collector()
    async with open_stream(send, Masker([SECRET])) as stream:
        stream.report(None, "started", force=True)
        stream.report(None, f"token is {SECRET}", force=True)
        stream.report(None, "held back, then replaced by a newer report")
        stream.report(None, "newest")
    messages = [m for _, _, m in sent]
    assert messages[0] == "started" and messages[2:] == ["newest"]
    assert messages[1].startswith("token is ") and SECRET not in messages[1]


@pytest.mark.anyio
async def test_a_held_report_goes_out_when_its_turn_comes_even_if_nothing_follows():
    sent = []
    arrived = anyio.Event()

    async def send(progress, total, message):
        sent.append(message)
        if len(sent) == 2:
            arrived.set()

    async with open_stream(send, Masker([])) as stream:
        stream.report(None, "started", force=True)
        stream.report(None, f"a line with {SECRET}")
        with anyio.fail_after(10):
            await arrived.wait()  # delivered while the run is still going
        assert sent == ["started", f"a line with {SECRET}"]


@pytest.mark.anyio
async def test_forced_reports_are_never_dropped_and_keep_their_order():
    sent, send = collector()
    async with open_stream(send, Masker([])) as stream:
        stream.report(None, "started", force=True)
        stream.report(None, "a line")
        stream.report(1.0, "finished", force=True)
    assert [m for _, _, m in sent] == ["started", "a line", "finished"]


@pytest.mark.anyio
async def test_values_always_increase_and_fractions_become_percent():
    sent, send = collector()
    stream = ProgressStream(send, Masker([]), min_interval=0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(stream.run)
        for fraction, message in [
            (None, "started"),
            (None, "a line"),
            (0.5, "half"),
            (0.2, "went back"),
            (None, "another line"),
            (1.0, "done"),
        ]:
            stream.report(fraction, message, force=True)
        stream.close()
    values = [p for p, _, _ in sent]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert values[0] == 0 and values[1] == 1
    assert sent[2][:2] == (50.0, 100.0) and sent[-1][:2] == (100.0, 100.0)
    assert [t for _, t, _ in sent[:2]] == [None, None]


@pytest.mark.anyio
async def test_a_client_that_fails_to_take_a_notification_does_not_fail_the_run():
    async def broken(progress, total, message):
        raise ConnectionError("gone")

    async with open_stream(broken, Masker([])) as stream:
        stream.report(None, "started", force=True)
    assert stream.sent == 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_an_api_call_reports_its_start_its_response_and_its_end(app, echo_server, mode):
    spec = parse_spec(api_action("pto", echo_server.url + "/pto?key={API_KEY}"))
    await app.vault.put("default", "API_KEY", SECRET)
    await app.catalog.save_spec("default", spec)
    seen = []

    async def on_progress(progress, total, message):
        seen.append((progress, total, message))

    async with connect(app, USER, mode=mode) as client:
        result = await client.call_tool("pto", {}, progress_callback=on_progress)
        quiet = await client.call_tool("pto", {})
    assert not result.is_error and not quiet.is_error
    messages = [m for _, _, m in seen]
    assert messages[0] == "started pto" and messages[-1] == "pto finished: ok"
    assert any("HTTP 200" in m for m in messages) and len(seen) == 3
    assert [p for p, _, _ in seen] == sorted(p for p, _, _ in seen)
    assert seen[-1][:2] == (100.0, 100.0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.anyio
async def test_a_client_cancelling_an_api_call_aborts_it_and_the_run_is_recorded_cancelled(
    app, echo_server, mode
):
    await app.catalog.save_spec(
        "default", parse_spec(api_action("slow", echo_server.url + "/slow", timeout=20))
    )
    await app.catalog.save_spec("default", parse_spec(api_action("fast", echo_server.url + "/fast")))
    async with connect(app, USER, mode=mode) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call_tool, "slow", {})
            with anyio.fail_after(10):
                while not echo_server.requests:
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        with anyio.fail_after(10):
            while (
                not (runs := await app.store.runs.list_runs("default")) or runs[0].status.value == "running"
            ):
                await anyio.sleep(0.02)
        assert [r.status.value for r in runs] == ["cancelled"]
        after = await client.call_tool("fast", {})  # the connection and the server go on
    assert not after.is_error
