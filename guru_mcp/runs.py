"""Run one action: validate arguments -> build the job -> execute -> mask -> record.

Every call that names an action leaves exactly one run record, whatever happens: bad arguments,
a refused host, a timeout, a crash, a cancellation. The record is written when the run starts and
completed when it ends, so a run cut off by a crash is still there (marked at the next start-up).

An agent's tool calls come back here (`run_child`): each is a run of its own, one level deeper, with
the parent's run id, the same caller and trigger, masked and limited like any run. They do not take
another of the caller's run slots (the agent's run holds one already, and nesting would deadlock).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio

from guru_mcp import progress
from guru_mcp.catalog import ActionEntry, Catalog
from guru_mcp.errors import Busy, EgressDenied, NotFound, RunFailure, ShuttingDown, ToolError
from guru_mcp.executors import Executor
from guru_mcp.logs import first_line, log_refusal, log_run
from guru_mcp.models import ActionSpec, ActionType, Caller, ExecResult, Job, RunRecord, RunStatus, Trigger
from guru_mcp.progress import ProgressSend
from guru_mcp.secrets import NO_SECRETS, Masker
from guru_mcp.settings import Settings
from guru_mcp.store import Store
from guru_mcp.structured import apply_output_schema
from guru_mcp.vault import Vault

log = logging.getLogger(__name__)

SHUT_DOWN = "the server is shutting down; the run was cancelled (try again: another server may take it)"


@dataclass(frozen=True)
class Lineage:
    """Where a run sits in an agent's run tree."""

    parent_run_id: str | None = None
    depth: int = 0
    depth_limit: int | None = None


@dataclass
class RunOutcome:
    record: RunRecord
    result: ExecResult
    """Masked."""


class RunService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        catalog: Catalog,
        vault: Vault,
        executors: Mapping[ActionType, Executor],
    ) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.vault = vault
        self.executors = dict(executors)
        self._slots: dict[str, anyio.Semaphore] = {}
        self.stopping = False
        """Set by `drain`: new runs are refused (and recorded), runs in flight go on."""
        self._in_flight = 0
        self._scopes: set[anyio.CancelScope] = set()
        self._settled = anyio.Event()

    def _slot(self, key: str) -> anyio.Semaphore:
        sem = self._slots.get(key)
        if sem is None:
            sem = self._slots[key] = anyio.Semaphore(
                self.settings.max_concurrent_runs_per_caller, fast_acquire=True
            )
        return sem

    async def run(
        self,
        guru: str,
        action_name: str,
        arguments: dict[str, Any] | None,
        caller: Caller,
        trigger: Trigger,
        *,
        schedule_id: int | None = None,
        due_at: datetime | None = None,
        allow_disabled: bool = False,
        progress: ProgressSend | None = None,
        mock_tools: dict[str, Any] | None = None,
        sampler: Any = None,
        lineage: Lineage = Lineage(),
        entry: ActionEntry | None = None,
    ) -> RunOutcome:
        """Run an action. Raises NotFound/ToolError only if there is no enabled action of that name;
        every other failure is returned as a recorded, masked result. `progress`, when given, gets
        the run's progress notifications (see `guru_mcp.progress`).

        `entry`, when given, is the action's snapshot entry the caller looked up and checked (enabled,
        visible) already: the tool-call path does that once, here it is not done again.

        `mock_tools` (agents, test mode) answers the agent's tool calls instead of running them;
        `sampler` is the calling client's MCP session, for agents that sample its model; `lineage`
        places an agent's tool call in its run tree."""
        if entry is None:
            entry = await self._entry(guru, action_name, allow_disabled)
        arguments = dict(arguments or {})
        record = self._new_record(guru, entry, arguments, caller, trigger, schedule_id, due_at)
        record.parent_run_id, record.depth = lineage.parent_run_id, lineage.depth
        problems = (
            []
            if entry.arguments_valid(arguments)  # the common case, without jsonschema's general machinery
            else sorted(entry.validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
        )
        if problems:
            message = "invalid arguments: " + "; ".join(
                f"{'.'.join(map(str, p.absolute_path)) or 'arguments'}: {p.message}" for p in problems
            )
            masker = await self._masker(guru, entry)
            record.inputs = masker.data(arguments)
            record.caller = masker.data(record.caller)
            result = ExecResult(status=RunStatus.ERROR, text=masker.text(message), error=masker.text(message))
            await self._record_whole(record, result)
            return RunOutcome(record, result)
        for param in entry.stored.spec.parameters:
            if param.name not in arguments and param.default is not None:
                arguments[param.name] = param.default
        context = _Context(caller, trigger, mock_tools, sampler, lineage, progress)
        if lineage.parent_run_id is not None:
            return await self._execute(guru, entry, arguments, context, record)

        if self.stopping:
            await self._refuse(guru, entry, record, RunStatus.CANCELLED, ShuttingDown())
        sem = self._slot(caller.key)
        try:
            sem.acquire_nowait()  # a free slot: no deadline scope to set up
        except anyio.WouldBlock:
            with anyio.move_on_after(self.settings.run_queue_timeout) as waited:
                await sem.acquire()
            if waited.cancelled_caught:
                await self._refuse(
                    guru,
                    entry,
                    record,
                    RunStatus.DENIED,
                    Busy(
                        f"too many runs at once for this caller (limit {self.settings.max_concurrent_runs_per_caller}); "
                        f"waited {self.settings.run_queue_timeout:g} s — try again later"
                    ),
                )
        self._in_flight += 1
        try:
            if self.stopping:
                await self._refuse(guru, entry, record, RunStatus.CANCELLED, ShuttingDown())
            return await self._execute(guru, entry, arguments, context, record)
        finally:
            sem.release()
            self._in_flight -= 1
            self._settled.set()
            self._settled = anyio.Event()

    async def _refuse(
        self, guru: str, entry: ActionEntry, record: RunRecord, status: RunStatus, exc: ToolError
    ) -> None:
        """Record a call refused before it ran (one record per call), then raise `exc` to the caller."""
        masker = await self._masker(guru, entry)
        record.inputs = masker.data(record.inputs)
        message = str(exc)
        await self._record_whole(record, ExecResult(status=status, text=message, error=message))
        raise exc

    async def drain(self, grace: float) -> int:
        """Stop taking runs: new calls are refused; runs in flight may finish for `grace` seconds,
        then the rest are cancelled (recorded `cancelled`, their callers told the server is shutting
        down). Returns once no run is in flight (or after a bounded wait); the number cancelled."""
        self.stopping = True
        with anyio.move_on_after(grace):
            while self._in_flight:
                await self._settled.wait()
        cancelled = len(self._scopes)
        for scope in list(self._scopes):
            scope.cancel()
        with anyio.move_on_after(30):  # cancelled runs clean up (a container's removal) and record
            while self._in_flight:
                await self._settled.wait()
        return cancelled

    @contextmanager
    def _cancellable(self) -> Iterator[anyio.CancelScope]:
        scope = anyio.CancelScope()
        self._scopes.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._scopes.discard(scope)

    async def deny(
        self, guru: str, entry: ActionEntry, arguments: dict[str, Any], caller: Caller, reason: str
    ) -> None:
        """Record a call that was refused before running (the caller may not use the action)."""
        masker = await self._masker(guru, entry)
        record = RunRecord(
            id=str(uuid.uuid4()),
            guru=guru,
            action_id=entry.stored.id,
            action_name=entry.stored.name,
            action_version=entry.stored.version,
            trigger=Trigger.TOOL_CALL,
            caller=caller.record(),
            inputs=masker.data(arguments),
            status=RunStatus.DENIED,
            started_at=datetime.now(UTC),
        )
        await self._record_whole(record, ExecResult(status=RunStatus.DENIED, text=reason, error=reason))

    async def record_denied(
        self,
        guru: str,
        action_name: str,
        arguments: dict[str, Any] | None,
        caller: Caller,
        trigger: Trigger,
        reason: str,
    ) -> RunOutcome:
        """Record a call that was not run because it was refused (the user declined to confirm it,
        or could not be asked): status `denied`, masked inputs, `reason` as the error."""
        entry = await self._entry(guru, action_name, allow_disabled=False)
        arguments = dict(arguments or {})
        record = self._new_record(guru, entry, arguments, caller, trigger, None, None)
        masker = await self._masker(guru, entry)
        record.inputs = masker.data(arguments)
        record.caller = masker.data(record.caller)
        message = masker.text(reason)
        result = ExecResult(
            status=RunStatus.DENIED, text=message, error=message, data={"success": False, "error": message}
        )
        await self._record_whole(record, result)
        return RunOutcome(record, result)

    async def _entry(self, guru: str, action_name: str, allow_disabled: bool) -> ActionEntry:
        snap = await self.catalog.snapshot(guru)
        entry = snap.entries.get(action_name)
        if entry is None:
            raise NotFound(f"no action named {action_name!r}")
        if not entry.stored.enabled and not allow_disabled:
            raise ToolError(
                f"action {action_name!r} is disabled ({entry.stored.disabled_reason or 'by an admin'})"
            )
        return entry

    @staticmethod
    def _new_record(
        guru: str,
        entry: ActionEntry,
        arguments: dict[str, Any],
        caller: Caller,
        trigger: Trigger,
        schedule_id: int | None,
        due_at: datetime | None,
    ) -> RunRecord:
        return RunRecord(
            id=str(uuid.uuid4()),
            guru=guru,
            action_id=entry.stored.id,
            action_name=entry.stored.name,
            action_version=entry.stored.version,
            trigger=trigger,
            caller=caller.record(),
            inputs=arguments,
            status=RunStatus.RUNNING,
            schedule_id=schedule_id,
            due_at=due_at,
            started_at=datetime.now(UTC),
        )

    async def masker_for(self, guru: str, entry: ActionEntry) -> Masker:
        """A masker for the secrets this action uses."""
        return await self._masker(guru, entry)

    async def run_child(self, parent: Job, name: str, arguments: dict[str, Any]) -> tuple[str, str, bool]:
        """One tool call of an agent, as a child run. Returns (run id, masked text, is_error)."""
        outcome = await self.run(
            parent.guru,
            name,
            arguments,
            parent.caller,
            parent.trigger,
            mock_tools=parent.mock_tools,
            sampler=parent.sampler,
            lineage=Lineage(parent.run_id, parent.depth + 1, parent.depth_limit),
        )
        result = outcome.result
        text = result.text or (result.error if result.status is not RunStatus.OK else "")
        if result.status is not RunStatus.OK and result.error and result.error not in text:
            text = f"{text}\n({result.status.value}: {result.error})"
        return outcome.record.id, text, result.status is not RunStatus.OK

    async def record_mocked(self, parent: Job, name: str, arguments: dict[str, Any], text: str) -> str:
        """A tool call answered from test mocks: recorded as a finished child run, nothing executed."""
        snap = await self.catalog.snapshot(parent.guru)
        entry = snap.entries.get(name)
        now = datetime.now(UTC)
        caller = parent.caller
        record = RunRecord(
            id=str(uuid.uuid4()),
            guru=parent.guru,
            action_id=entry.stored.id if entry else None,
            action_name=name,
            action_version=entry.stored.version if entry else None,
            trigger=parent.trigger,
            caller={"key": caller.key, "email": caller.email, "name": caller.name, "admin": caller.is_admin},
            inputs=arguments,
            status=RunStatus.OK,
            output=text[: self.settings.run_output_limit],
            started_at=now,
            ended_at=now,
            duration_ms=0.0,
            parent_run_id=parent.run_id,
            depth=parent.depth + 1,
            usage={"mocked": True},
        )
        if entry is not None:
            masker = await self._masker(parent.guru, entry)
            record.inputs, record.output = masker.data(arguments), masker.text(record.output)
        await self.store.runs.start_run(record)
        return record.id

    async def _masker(self, guru: str, entry: ActionEntry) -> Masker:
        if not entry.secret_names:
            return NO_SECRETS
        return Masker.of((await self.vault.resolve(guru, entry.secret_names)).values())

    async def _execute(
        self, guru: str, entry: ActionEntry, arguments: dict[str, Any], context: _Context, record: RunRecord
    ) -> RunOutcome:
        caller = context.caller
        send_progress = context.progress
        spec = entry.stored.spec
        secrets, secret_hosts = await self.vault.resolve_scoped(guru, entry.secret_names)
        masker = Masker.of(secrets.values()) if secrets else NO_SECRETS
        if masker.active:
            record.inputs = masker.data(arguments)
            record.caller = masker.data(record.caller)
        # Durable before anything executes: the started record is committed here.
        await self.store.runs.start_run(record)
        started = time.perf_counter()
        timeout = action_timeout(self.settings, spec)
        job = Job(
            run_id=record.id,
            action=spec,
            arguments=arguments,
            builtins=_builtins(caller, guru),
            secrets=secrets,
            secret_hosts=secret_hosts,
            timeout=timeout,
            guru=guru,
            caller=caller,
            trigger=context.trigger,
            depth=context.lineage.depth,
            depth_limit=context.lineage.depth_limit,
            mock_tools=context.mock_tools,
            sampler=context.sampler,
        )
        try:
            if send_progress is None:  # nobody listens: no stream, no sender task
                result = apply_output_schema(spec, entry.output_validator, await self._attempt(entry, job))
            else:
                async with progress.open_stream(send_progress, masker) as stream:
                    if stream is not None:
                        stream.report(None, f"started {spec.name}", force=True)
                    result = await self._attempt(entry, job)
                    result = apply_output_schema(spec, entry.output_validator, result)
                    if stream is not None:
                        stream.report(1.0, f"{spec.name} finished: {result.status.value}", force=True)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._finish(
                    record, _failed(RunStatus.CANCELLED, "the run was cancelled"), started, masker
                )
            raise
        if masker.active:  # without secrets there is nothing to mask: the result is kept as it is
            result = _masked(result, masker)
        with anyio.CancelScope(shield=True):
            await self._finish(record, result, started, masker)
        return RunOutcome(record, result)

    async def _attempt(self, entry: ActionEntry, job: Job) -> ExecResult:
        """Execute the job; every failure but cancellation becomes a failed result (unmasked)."""
        spec = job.action
        try:
            missing = _missing_secrets(spec, entry.secret_names, job.secrets)
            if missing:
                raise RunFailure(f"secret {', '.join(missing)} is not set; an admin must set it")
            executor = self.executors[spec.action_type]
            with self._cancellable() as stop:
                # The executor enforces the timeout itself (and cleans up); this is the backstop.
                with anyio.fail_after(longest_run(self.settings, spec)):
                    result = await executor.execute(job)
            if stop.cancelled_caught:  # `drain` gave up waiting for this run
                return _failed(RunStatus.CANCELLED, SHUT_DOWN)
            return result
        except TimeoutError:
            return _failed(RunStatus.TIMEOUT, f"{spec.name} timed out after {job.timeout:g} s")
        except EgressDenied as exc:
            result = _failed(RunStatus.DENIED, str(exc))
            if exc.host:
                result.hosts_refused = [exc.host]
            return result
        except RunFailure as exc:
            return _failed(RunStatus(exc.status), str(exc))
        except Exception as exc:
            log.exception("action %s crashed", spec.name)
            return _failed(RunStatus.ERROR, f"internal error while running {spec.name}: {type(exc).__name__}")

    async def _finish(self, record: RunRecord, result: ExecResult, started: float, masker: Masker) -> None:
        limit = self.settings.run_output_limit
        output = masker.text(result.text)
        record.status = result.status
        record.output = output[:limit]
        record.truncated = result.truncated or len(output) > limit
        record.error = masker.text(result.error)
        # Every stored field is masked here, before storage, so each reader (CLI, admin tools, the web
        # console, exports) gets masked data without masking of its own. A secret may be the host.
        record.hosts = masker.data(list(result.hosts))
        record.hosts_refused = masker.data(list(result.hosts_refused))
        record.ended_at = datetime.now(UTC)
        record.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        record.usage = result.usage
        await self.store.runs.finish_run(
            record.id,
            status=record.status,
            output=record.output,
            truncated=record.truncated,
            error=record.error,
            hosts=record.hosts,
            ended_at=record.ended_at,
            duration_ms=record.duration_ms,
            hosts_refused=record.hosts_refused,
            usage=record.usage,
        )
        log_run(record)
        # One line per refused host (masked like the record), or the error's first line when the
        # refusal named no host (a name that did not resolve).
        where = f"run {record.id} of {record.guru}/{record.action_name}"
        for host in record.hosts_refused:
            log_refusal(
                "egress",
                f"{where}: egress to {host} refused by policy",
                run_id=record.id,
                guru=record.guru,
                action=record.action_name,
                host=host,
            )
        if not record.hosts_refused and record.error.startswith("egress refused"):
            log_refusal(
                "egress",
                f"{where}: {first_line(record.error)}",
                run_id=record.id,
                guru=record.guru,
                action=record.action_name,
            )

    async def _record_whole(self, record: RunRecord, result: ExecResult) -> None:
        record.status = result.status
        record.error = result.error
        record.output = result.text[: self.settings.run_output_limit]
        record.ended_at = record.started_at
        record.duration_ms = 0.0
        await self.store.runs.start_run(record)
        log_run(record)


@dataclass(frozen=True)
class _Context:
    caller: Caller
    trigger: Trigger
    mock_tools: dict[str, Any] | None
    sampler: Any
    lineage: Lineage
    progress: ProgressSend | None = None


def action_timeout(settings: Settings, spec: ActionSpec) -> float:
    """The action's own timeout (its `config.timeout` or the default), capped by the setting."""
    if spec.action_type is ActionType.AGENT:
        return spec.timeout(settings.agent_default_timeout, settings.agent_max_timeout)
    if spec.action_type is ActionType.PYTHON_CODE:
        return spec.timeout(settings.sandbox_default_timeout, settings.sandbox_max_timeout)
    return spec.timeout(settings.http_default_timeout, settings.http_max_timeout)


def longest_run(settings: Settings, spec: ActionSpec) -> float:
    """How long a run may take at most: its timeout plus the time an executor needs to clean up."""
    cleanup = {ActionType.PYTHON_CODE: 15.0, ActionType.AGENT: 20.0}.get(spec.action_type, 1.0)
    return action_timeout(settings, spec) + cleanup


def _masked(result: ExecResult, masker: Masker) -> ExecResult:
    """`result` with every output field masked (what the caller and the record get)."""
    return ExecResult(
        status=result.status,
        text=masker.text(result.text),
        data=masker.data(result.data),
        error=masker.text(result.error),
        truncated=result.truncated,
        hosts=masker.data(list(result.hosts)),
        hosts_refused=masker.data(list(result.hosts_refused)),
        structured=masker.data(result.structured) if result.structured is not None else None,
        usage=result.usage,
    )


def _builtins(caller: Caller, guru: str) -> dict[str, str]:
    """The built-in variables of a run (`Caller.builtins` for the run's guru, without copying the caller)."""
    values = caller.builtins()
    values["GURUBASE_GURU_SLUG"] = guru
    return values


def _failed(status: RunStatus, message: str) -> ExecResult:
    return ExecResult(status=status, text=message, error=message, data={"success": False, "error": message})


def _missing_secrets(spec: Any, candidates: frozenset[str], found: Mapping[str, str]) -> list[str]:
    """Secrets the action must have: API placeholders that are secrets, and Python's listed secrets."""
    if spec.action_type is ActionType.PYTHON_CODE:
        required = set(spec.secrets)
    elif spec.action_type is ActionType.AGENT:
        required = set()
    else:
        required = set(candidates)
    return sorted(required - set(found))
