"""The application's resources, built once per process and passed down.

`open_app(settings)` opens the storage core (`guru_mcp/core.py`: the database, running migrations,
the key ring, the catalog and the vault), then the one shared outbound HTTP client, the executors
and the background tasks (catalog watcher, scheduler); closing it stops them in reverse order.
Nothing is created at import time.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import anyio
import anyio.abc

from guru_mcp.agents.executor import AgentExecutor
from guru_mcp.core import Core, open_core
from guru_mcp.egress import EgressPolicy, build_http_client, build_http_transport
from guru_mcp.errors import StorageError
from guru_mcp.executors import Executor, UnavailableExecutor
from guru_mcp.executors.background import in_background
from guru_mcp.executors.http import HttpExecutor
from guru_mcp.executors.plain_http import PlainHttpPool
from guru_mcp.identity.authn import Authenticator
from guru_mcp.liveness import Liveness, new_process_id
from guru_mcp.models import ActionType
from guru_mcp.runs import RunService
from guru_mcp.settings import Settings
from guru_mcp.store.processes import Recovered

if TYPE_CHECKING:
    from guru_mcp.scheduler import Scheduler

log = logging.getLogger(__name__)


class PythonExecutor(Executor, Protocol):
    """The executor of Python actions (the sandbox, or a stand-in saying why there is none)."""

    def status(self) -> Mapping[str, object]: ...


@dataclass
class App(Core):
    """The storage core (settings, store, keyring, catalog, vault) and what runs actions."""

    runs: RunService
    policy: EgressPolicy
    sandbox: PythonExecutor
    """The Python executor."""
    auth: Authenticator
    """Bearer token -> Caller (static tokens, OAuth access tokens)."""
    scheduler: Scheduler | None = None
    """Set once the scheduler runs (servers with `scheduler_enabled`)."""
    process_id: str = field(default_factory=new_process_id)
    """This process's name on the runs it starts and the schedule claims it makes."""
    liveness: Liveness | None = None


@asynccontextmanager
async def _sandbox(settings: Settings, policy: EgressPolicy) -> AsyncIterator[PythonExecutor]:
    if not settings.sandbox_enabled:
        yield UnavailableExecutor("Python actions are switched off (GURU_MCP_SANDBOX_ENABLED=false)")
        return

    @asynccontextmanager
    async def open_real() -> AsyncIterator[PythonExecutor]:
        # The Docker SDK loads only when a server needs it, and off the event loop.
        module = await anyio.to_thread.run_sync(importlib.import_module, "guru_mcp.executors.sandbox")
        async with module.open_sandbox(settings, policy) as sandbox:
            real: PythonExecutor = sandbox
            yield real

    # Probing the engine and filling the warm pool happen in the background, once the transport
    # serves (`serve.py` calls `begin()`) or the first Python job arrives: they never hold up
    # `initialize`.
    async with in_background(open_real, settings.sandbox_pool_size) as sandbox:
        yield sandbox


@asynccontextmanager
async def open_app(
    settings: Settings,
    *,
    background: bool = True,
    sandbox: bool = True,
    executors: dict[ActionType, Executor] | None = None,
) -> AsyncIterator[App]:
    """Build every resource. `sandbox=False` skips Docker (CLI commands); `executors` replaces the
    real executors (tests)."""
    async with AsyncExitStack() as stack:
        core = await stack.enter_async_context(open_core(settings))  # the last to close
        store, keyring, catalog, vault = core.store, core.keyring, core.catalog, core.vault
        policy = EgressPolicy(settings.egress_allow)
        transport = build_http_transport(policy)
        http = await stack.enter_async_context(
            build_http_client(policy, max_redirects=settings.http_max_redirects, transport=transport)
        )
        plain_http = PlainHttpPool(policy)
        stack.push_async_callback(plain_http.aclose)
        python_executor = (
            await stack.enter_async_context(_sandbox(settings, policy))
            if sandbox
            else UnavailableExecutor("the sandbox is not started for this command")
        )
        agents = AgentExecutor(catalog, store.providers, vault, http)
        chosen: dict[ActionType, Executor] = {
            ActionType.API_CALL: HttpExecutor(
                http,
                transport=transport,
                response_limit=settings.http_response_limit,
                max_redirects=settings.http_max_redirects,
                plain=plain_http,
            ),
            ActionType.PYTHON_CODE: python_executor,
            ActionType.AGENT: agents,
        }
        chosen.update(executors or {})
        runs = RunService(settings, store, catalog, vault, chosen)
        agents.runner = runs  # the agent's tool calls go back through the run path that runs the agent
        auth = Authenticator(settings, store, http)
        app = App(settings, store, keyring, catalog, vault, runs, policy, python_executor, auth)
        tg = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(tg.cancel_scope.cancel)
        tg.start_soon(auth.run_usage_writer)
        if background:
            await _start_liveness(app, tg, stack)
            tg.start_soon(catalog.watch)
            await _start_scheduler(app, tg)
        yield app


async def _start_liveness(app: App, tg: anyio.abc.TaskGroup, stack: AsyncExitStack) -> None:
    """Register this process, settle what stopped ones left, and keep the heartbeat going. Runs
    are stamped with the process id only once it is registered."""

    def recovered(found: Recovered) -> None:
        if app.scheduler is not None:
            app.scheduler.take_over(found.claims)

    liveness = app.liveness = Liveness(
        app.store.processes,
        app.process_id,
        lapse=app.settings.process_lapse,
        on_recovered=recovered,
    )
    try:
        await liveness.start()
    except StorageError as exc:  # e.g. a read-only database: serve what can be served
        log.warning("this server cannot register as live (%s); its runs are not recovered if it dies", exc)
        return
    app.store.runs.process_id = app.process_id
    stack.push_async_callback(liveness.stop)
    tg.start_soon(liveness.run)


async def _start_scheduler(app: App, tg: anyio.abc.TaskGroup) -> None:
    if not app.settings.scheduler_enabled:
        return
    from guru_mcp.scheduler import start_scheduler  # imports App: a module-level import would be a cycle

    app.scheduler = await start_scheduler(app, tg)
