"""A catalog snapshot read while a change is saved is not kept: the next reader sees the change at once,
not after the next poll (a tool created over MCP is in the very next `tools/list`)."""

from __future__ import annotations

import pytest

from guru_mcp.models import parse_spec
from tests.conftest import api_action

pytestmark = pytest.mark.anyio


async def test_a_snapshot_read_across_a_save_is_read_again(app, echo_server):
    catalog = app.catalog
    await catalog.save_spec("default", parse_spec(api_action("first", echo_server.url + "/a")))
    catalog._changed("default")  # drop what the save left, so the next call reads the store
    real = catalog.store.actions.list_actions_reusing
    reads = 0

    async def read_then_save(guru, reusable):
        nonlocal reads
        reads += 1
        found = await real(guru, reusable)
        if reads == 1:  # a save lands after this reading, before the snapshot is kept
            await catalog.save_spec("default", parse_spec(api_action("second", echo_server.url + "/b")))
        return found

    catalog.store.actions.list_actions_reusing = read_then_save
    try:
        snap = await catalog.snapshot("default")
    finally:
        catalog.store.actions.list_actions_reusing = real
    assert reads == 2, reads  # the stale reading was thrown away and the store read again
    assert {"first", "second"} <= set(snap.entries), sorted(snap.entries)
    assert (await catalog.snapshot("default")) is snap
