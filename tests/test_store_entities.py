"""The entity stores hand out models, not rows: every JSON or list column is parsed in the store.
Runs on SQLite and, with `--db postgres`, on PostgreSQL (the `app` fixture uses the suite's database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from guru_mcp.errors import NotFound
from guru_mcp.models import ModelProvider, RunStatus, parse_spec
from guru_mcp.store.actions import ActionVersion, VersionInfo
from guru_mcp.store.gurus import GuruSummary
from guru_mcp.store.runs import RunFact
from guru_mcp.store.secrets import SealedSecret, SecretInfo
from guru_mcp.store.tokens import parse_groups
from tests.conftest import api_action
from tests.support.records import run_record

pytestmark = pytest.mark.anyio


def test_groups_are_parsed_one_way_from_text_and_from_sequences() -> None:
    assert parse_groups(" support, ,billing ,") == ("support", "billing")
    assert parse_groups(["support", " ", " billing"]) == ("support", "billing")
    assert parse_groups("") == ()


async def test_tokens_keep_their_groups_as_a_tuple_whichever_way_they_were_given(app) -> None:
    await app.store.tokens.create_token("t-text", guru="default", label="a", is_admin=False, groups="x, y,,")
    await app.store.tokens.create_token(
        "t-seq", guru="default", label="b", is_admin=True, groups=["y", " z "]
    )
    text, seq = await app.store.tokens.find_token("t-text"), await app.store.tokens.find_token("t-seq")
    assert text is not None and text.groups == ("x", "y") and not text.is_admin
    assert seq is not None and seq.groups == ("y", "z") and seq.is_admin
    assert [t.label for t in await app.store.tokens.list_tokens("default")] == ["a", "b"]
    assert await app.store.tokens.find_token("unknown") is None


async def test_gurus_are_listed_as_summaries_with_counts(app) -> None:
    await app.store.gurus.create_guru("acme")
    await app.store.secrets.put_secret("acme", "ACME_KEY", "ct", "k1")
    await app.store.tokens.create_token("t-acme", guru="acme", label="", is_admin=False)
    summaries = {g.slug: g for g in await app.store.gurus.summaries()}
    assert set(summaries) == {"acme", "default"} == set(await app.store.gurus.slugs())
    acme = summaries["acme"]
    assert isinstance(acme, GuruSummary) and (acme.actions, acme.secrets, acme.tokens) == (0, 1, 1)
    assert acme.created_at.tzinfo is not None
    assert acme.as_dict()["created_at"] == acme.created_at.isoformat()
    assert (await app.store.gurus.delete_guru("acme"))["secrets"] == 1
    assert not await app.store.gurus.guru_exists("acme")
    with pytest.raises(NotFound):
        await app.store.secrets.list_secrets("acme")


async def test_deleting_a_guru_takes_its_model_providers_with_it(app) -> None:
    # model_providers.guru_id references gurus.id without a cascade: a guru with a provider could not
    # be deleted (an integrity error on PostgreSQL) before the store deleted the providers first.
    await app.store.gurus.create_guru("acme")
    await app.store.providers.put("acme", ModelProvider(name="m", kind="sampling"))
    await app.store.providers.put("default", ModelProvider(name="m", kind="sampling"))
    assert (await app.store.gurus.delete_guru("acme"))["model_providers"] == 1
    assert not await app.store.gurus.guru_exists("acme")
    assert [p.name for p in await app.store.providers.list_providers("default")] == ["m"]


async def test_secrets_come_back_as_infos_and_sealed_values_with_their_host_lists(app) -> None:
    assert await app.store.secrets.put_secret("default", "B_KEY", "ct-b", "k1", ["api.example.com"])
    assert await app.store.secrets.put_secret("default", "A_KEY", "ct-a", "k1")
    assert not await app.store.secrets.put_secret("default", "B_KEY", "ct-b2", "k2")  # replaced, hosts kept
    infos = await app.store.secrets.list_secrets("default")
    assert [type(i) for i in infos] == [SecretInfo, SecretInfo]
    assert [(i.name, i.key_id, i.hosts) for i in infos] == [
        ("A_KEY", "k1", []),
        ("B_KEY", "k2", ["api.example.com"]),
    ]
    assert await app.store.secrets.secret_names("default") == {"A_KEY", "B_KEY"}
    assert await app.store.secrets.sealed("default", ["B_KEY", "NONE"]) == {
        "B_KEY": SealedSecret("ct-b2", "k2", ["api.example.com"])
    }


async def test_versions_come_back_as_models_with_the_spec_parsed(app, echo_server) -> None:
    spec = parse_spec(api_action("ping", echo_server.url + "/v1"))
    action, created = await app.store.actions.save_action("default", spec, enabled=True, actor="ada")
    assert created
    changed = parse_spec(api_action("ping", echo_server.url + "/v2"))
    await app.store.actions.save_action("default", changed, enabled=True, actor="bob")
    [second, first] = await app.store.actions.list_versions("default", action.id)
    assert isinstance(first, VersionInfo) and (first.version, first.changed_by, first.summary) == (
        1,
        "ada",
        "created",
    )
    assert (second.version, second.changed_by) == (2, "bob") and second.created_at.tzinfo is not None
    old = await app.store.actions.get_version("default", action.id, 1)
    assert isinstance(old, ActionVersion) and old.spec == spec and old.action_name == "ping"
    assert await app.store.actions.get_version("default", action.id, 9) is None


async def test_run_facts_are_typed_tuples_of_finished_runs(app) -> None:
    start = datetime.now(UTC) - timedelta(minutes=1)
    for run_id, status in (("r-ok", RunStatus.OK), ("r-running", RunStatus.RUNNING)):
        await app.store.runs.start_run(run_record(id=run_id, started_at=start))
        if status is RunStatus.OK:
            await app.store.runs.finish_run(
                run_id,
                status=status,
                output="done",
                truncated=False,
                error="",
                hosts=["127.0.0.1"],
                ended_at=start + timedelta(seconds=1),
                duration_ms=1000.0,
            )
    [fact] = await app.store.runs.run_facts("default", start - timedelta(seconds=1))
    assert isinstance(fact, RunFact)
    assert (fact.action, fact.trigger, fact.status, fact.duration_ms) == ("a", "tool_call", "ok", 1000.0)
    assert fact.started_at == start
    run = await app.store.runs.get_run("default", "r-ok")
    assert (run.status, run.hosts, run.output) == (RunStatus.OK, ["127.0.0.1"], "done")
