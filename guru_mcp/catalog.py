"""The action catalog: validation on save, and an in-memory, versioned snapshot per guru.

Every change goes through `Catalog`, which bumps the guru's catalog version in the same transaction
and tells listeners (the MCP server sends `tools/list_changed`; the scheduler re-plans). Changes
made by other processes (the CLI, another replica) are picked up by `watch`, which polls the
version — one indexed row — every `catalog_poll_interval` seconds.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from guru_mcp.agents.conversation import ToolSpec
from guru_mcp.agents.graph import agent_problems, users_of
from guru_mcp.code_scan import CodeScan, EnvRead
from guru_mcp.cron import validate_schedule
from guru_mcp.errors import FieldError, NotFound, ValidationFailed
from guru_mcp.lint import SyntaxProblem, check_code
from guru_mcp.models import (
    BUILTIN_VARIABLES,
    ActionSpec,
    ActionType,
    AgentConfig,
    ApiCallConfig,
    ModelProvider,
    ParamType,
    PythonCodeConfig,
    StoredAction,
)
from guru_mcp.save_checks import (
    check_python_reads,
    missing_secret_hint,
    unknown_placeholder,
)
from guru_mcp.settings import Settings
from guru_mcp.store import Store
from guru_mcp.store.actions import ActionSave
from guru_mcp.structured import validator_for
from guru_mcp.templating import placeholders

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

log = logging.getLogger(__name__)


def secret_candidates(spec: ActionSpec) -> frozenset[str]:
    """The secrets this action declares, and so receives: an API call's placeholders that name no
    parameter or built-in variable, a Python action's `secrets` list. A name that code merely reads is
    not a declaration: a secret reaches only the actions that declare it."""
    params = {p.name for p in spec.parameters}
    if isinstance(spec.config, AgentConfig):
        return frozenset()  # an agent's tools resolve their own secrets; its API key is the provider's
    if isinstance(spec.config, ApiCallConfig):
        names = {name for _, name in placeholders(spec.config)}
    else:
        names = set(spec.secrets)
    return frozenset(names - params - set(BUILTIN_VARIABLES))


@dataclass(frozen=True)
class ActionEntry:
    """One action of a snapshot, with what a call needs precomputed. The schema validators are built
    on first use and kept: listing actions (a CLI command, `tools/list`) needs none of them, and
    jsonschema then need not even be imported."""

    stored: StoredAction
    secret_names: frozenset[str]

    @functools.cached_property
    def validator(self) -> Draft202012Validator:
        """The arguments' validator (the action's input schema)."""
        from jsonschema import Draft202012Validator

        return Draft202012Validator(self.stored.spec.input_schema())

    @functools.cached_property
    def output_validator(self) -> Draft202012Validator | None:
        return validator_for(self.stored.spec)

    @functools.cached_property
    def _argument_shape(self) -> tuple[dict[str, ParamType], frozenset[str]]:
        """The input schema as the fast check reads it: each parameter's type, and the required ones
        (the same rules `ActionSpec.input_schema` writes)."""
        params = self.stored.spec.parameters
        required = frozenset(p.name for p in params if p.required and p.default is None)
        return {p.name: p.type for p in params}, required

    def arguments_valid(self, arguments: dict[str, Any]) -> bool:
        """True when `arguments` certainly satisfy the input schema (the validator would find no
        error): only known parameters, the required ones present, each value of its JSON type. False
        means "ask the validator", which says what is wrong; the schema has nothing else to check
        (its other keywords, `description` and `default`, are annotations)."""
        types, required = self._argument_shape
        if not required <= arguments.keys():
            return False
        for name, value in arguments.items():
            kind = types.get(name)
            if kind is ParamType.STRING:
                if not isinstance(value, str):
                    return False
            elif kind is ParamType.NUMBER:
                if type(value) is not int and type(value) is not float:  # bool is not a number here
                    return False
            elif kind is ParamType.BOOLEAN:
                if value is not True and value is not False:
                    return False
            else:  # not a parameter (additionalProperties: false), or a type this check does not know
                return False
        return True


def _entry(action: StoredAction) -> ActionEntry:
    return ActionEntry(stored=action, secret_names=secret_candidates(action.spec))


@dataclass(frozen=True)
class Snapshot:
    guru: str
    version: int
    entries: dict[str, ActionEntry] = field(default_factory=dict)

    def enabled(self) -> list[ActionEntry]:
        return [e for e in self.entries.values() if e.stored.enabled]


class ProviderLookup(Protocol):
    async def list_providers(self, guru: str) -> list[ModelProvider]: ...


@dataclass(frozen=True)
class CheckContext:
    """What validation reads from the store (`Catalog.check_context`)."""

    secrets: frozenset[str]
    actions: dict[str, ActionSpec]
    """The guru's current actions (read only when agents are checked: their tools)."""
    providers: frozenset[str]
    """Names of the configured model providers (read only when agents are checked)."""

    @functools.cached_property
    def hint_names(self) -> frozenset[str]:
        """The names every action is checked against ("did you mean"): built-in variables, secrets."""
        return frozenset(BUILTIN_VARIABLES) | self.secrets


@dataclass(frozen=True)
class CheckedSave:
    """An action validated by `Catalog.check_with`, to be saved by `Catalog.save_checked`."""

    spec: ActionSpec
    missing: list[str]
    summary: str = ""


@dataclass
class SaveResult:
    action: StoredAction
    created: bool
    missing_secrets: list[str]
    warnings: list[str]


class Catalog:
    """Validated changes to actions, and snapshots of them."""

    def __init__(self, settings: Settings, store: Store, providers: ProviderLookup | None = None) -> None:
        self.settings = settings
        self.store = store
        self.providers = providers
        self._snapshots: dict[str, Snapshot] = {}
        self._previous: dict[str, Snapshot] = {}
        """The last snapshot of each guru, whose unchanged entries the next one reuses."""
        self._listeners: dict[object, Callable[[str], None]] = {}
        self._generations: dict[str, int] = {}
        """Changes seen per guru: a snapshot read across one is not kept (see `snapshot`)."""
        self._lock = anyio.Lock()

    # -- change notification -----------------------------------------------------------------------

    def add_listener(self, fn: Callable[[str], None]) -> Callable[[], None]:
        token = object()
        self._listeners[token] = fn
        return lambda: self._listeners.pop(token, None)  # type: ignore[return-value]

    def _changed(self, guru: str) -> None:
        self._generations[guru] = self._generations.get(guru, 0) + 1
        old = self._snapshots.pop(guru, None)
        if old is not None:
            self._previous[guru] = old
        for fn in list(self._listeners.values()):
            try:
                fn(guru)
            except Exception:  # one bad listener must not break a save
                log.exception("catalog listener failed")

    async def watch(self) -> None:
        """Poll for changes made by other processes; runs until cancelled."""
        while True:
            await anyio.sleep(self.settings.catalog_poll_interval)
            for guru, snap in list(self._snapshots.items()):
                try:
                    version = await self.store.gurus.catalog_version(guru)
                except NotFound:  # the guru was deleted (by another process)
                    self.forget(guru)
                    continue
                except Exception:
                    log.exception("catalog poll failed")
                    continue
                if version != snap.version:
                    self._changed(guru)

    # -- snapshots ---------------------------------------------------------------------------------

    async def snapshot(self, guru: str) -> Snapshot:
        snap = self._snapshots.get(guru)
        if snap is not None:
            return snap
        async with self._lock:
            for _ in range(3):
                kept = self._snapshots.get(guru)
                if kept is not None:
                    return kept
                seen = self._generations.get(guru, 0)
                read = await self._read_snapshot(guru)
                # A change saved while this one was read (its `_changed` found nothing to drop) makes the
                # reading stale: it is not kept, and the catalog is read again.
                if self._generations.get(guru, 0) == seen:
                    self._snapshots[guru] = read
                    return read
            return read  # changes keep landing: this reading is as fresh as any, just not kept

    async def _read_snapshot(self, guru: str) -> Snapshot:
        version = await self.store.gurus.catalog_version(guru)
        previous = self._previous.pop(guru, None)
        reusable = (
            {(e.stored.id, e.stored.revision): e for e in previous.entries.values()} if previous else {}
        )
        actions = await self.store.actions.list_actions_reusing(
            guru, {key: e.stored for key, e in reusable.items()}
        )
        entries = {a.name: reusable.get((a.id, a.revision)) or _entry(a) for a in actions}
        return Snapshot(guru=guru, version=version, entries=entries)

    def forget(self, guru: str) -> None:
        """Drop everything held about a deleted guru."""
        self._snapshots.pop(guru, None)
        self._previous.pop(guru, None)
        self.store.db.forget_guru(guru)

    async def get(self, guru: str, name: str) -> StoredAction:
        entry = (await self.snapshot(guru)).entries.get(name)
        if entry is None:
            raise NotFound(f"no action named {name!r}")
        return entry.stored

    async def list_actions(self, guru: str) -> list[StoredAction]:
        return [e.stored for e in (await self.snapshot(guru)).entries.values()]

    async def tool_specs(self, guru: str, names: list[str]) -> list[ToolSpec]:
        """The tools an agent offers its model: those of `names` that exist, as the model sees them."""
        snap = await self.snapshot(guru)
        out = []
        for name in names:
            entry = snap.entries.get(name)
            if entry is not None:
                spec = entry.stored.spec
                out.append(ToolSpec(spec.name, spec.describe_for_model(), spec.input_schema()))
        return out

    # -- validation --------------------------------------------------------------------------------

    async def check(
        self, guru: str, spec: ActionSpec, pending: dict[str, ActionSpec] | None = None
    ) -> tuple[list[str], list[str]]:
        """Validate what needs the outside world. Returns (missing secrets, warnings); raises
        ValidationFailed naming the field for anything that must be fixed. `pending` holds actions
        saved together with this one (an import), which an agent may list as tools."""
        context = await self.check_context(guru, agents=isinstance(spec.config, AgentConfig))
        return self.check_with(context, spec, pending)

    async def check_context(self, guru: str, *, agents: bool) -> CheckContext:
        """What validating actions of `guru` reads from the store, read once: a batch (an import)
        checks every action against the same reading. `agents`: also the current actions (an
        agent's tools) and the configured model providers."""
        exists = await self._guru_exists(guru)
        secrets = frozenset(await self.store.secrets.secret_names(guru)) if exists else frozenset()
        actions: dict[str, ActionSpec] = {}
        providers: frozenset[str] = frozenset()
        if agents:
            actions = {e.stored.name: e.stored.spec for e in (await self.snapshot(guru)).entries.values()}
            if self.providers is not None and exists:
                providers = frozenset(p.name for p in await self.providers.list_providers(guru))
        return CheckContext(secrets=secrets, actions=actions, providers=providers)

    def check_with(
        self,
        context: CheckContext,
        spec: ActionSpec,
        pending: dict[str, ActionSpec] | None = None,
        scanned: CodeScan | SyntaxProblem | None = None,
    ) -> tuple[list[str], list[str]]:
        """`check` against a reading of the store made by `check_context` (no I/O). `scanned`: what
        `lint.check_code` returned for this Python action's code, if it is already known (an import
        checks its code on another core, `guru_mcp/scan_ahead.py`); else it is computed here."""
        errors: list[FieldError] = []
        warnings: list[str] = []
        if isinstance(spec.config, AgentConfig):
            errors += agent_problems(spec, {**context.actions, **(pending or {})})
        secrets = set(context.secrets)
        params = {p.name for p in spec.parameters}
        for name in sorted(params & secrets):
            errors.append(FieldError("parameters", f"parameter {name!r} has the same name as a secret"))
        missing: set[str] = set()
        known = params | set(BUILTIN_VARIABLES) | secrets
        if isinstance(spec.config, ApiCallConfig):
            for where, name in placeholders(spec.config):
                if name in known:
                    continue
                if name.isupper():
                    if name not in missing and (
                        hint := missing_secret_hint(name, where, known, context.hint_names)
                    ):
                        warnings.append(hint)
                    missing.add(name)
                else:
                    errors.append(
                        FieldError(where, unknown_placeholder(name, where, known, context.hint_names))
                    )
        elif isinstance(spec.config, PythonCodeConfig):
            code = spec.config.code
            if len(code.encode()) > self.settings.max_code_bytes:
                errors.append(FieldError("config.code", f"longer than {self.settings.max_code_bytes} bytes"))
            reads: list[EnvRead] = []
            # Parsed once: the lint and the secret reads come from one walk of one tree.
            found = scanned if scanned is not None else check_code(code, f"<action {spec.name}>")
            if isinstance(found, SyntaxProblem):
                errors.append(
                    FieldError("config.code", f"syntax error on line {found.line}: {found.message}")
                )
            else:
                errors.extend(FieldError("config.code", problem) for problem in found.problems)
                warnings.extend(found.warnings)
                reads = found.reads
            missing |= set(spec.secrets) - secrets
            for name in sorted(set(spec.secrets) - secrets):
                if hint := missing_secret_hint(name, "secrets", known, context.hint_names):
                    warnings.append(hint)
            findings = check_python_reads(
                reads,
                params=params,
                builtins=BUILTIN_VARIABLES,
                declared=set(spec.secrets),
                existing=secrets,
                shared=context.hint_names,
            )
            errors.extend(FieldError("config.code", problem) for problem in findings.errors)
            warnings.extend(findings.warnings)
            # Reading a name does not declare a secret; declaring one that is never read is worth a word.
            unread = set(spec.secrets) - {read.name for read in reads}
            if unread:
                warnings.append(
                    f"secrets listed but never read with a literal name: {', '.join(sorted(unread))}"
                )
        if spec.schedule is not None:
            try:
                validate_schedule(spec)
            except ValidationFailed as exc:
                errors.extend(exc.errors)
        if errors:
            raise ValidationFailed(errors, prefix=f"action {spec.name!r}")
        return sorted(missing), warnings

    async def _guru_exists(self, guru: str) -> bool:
        return guru in await self.store.gurus.slugs()

    # -- changes -----------------------------------------------------------------------------------

    async def save_spec(
        self,
        guru: str,
        spec: ActionSpec,
        *,
        create: bool = True,
        replace: bool = True,
        expected_version: int | None = None,
        actor: str = "",
        summary: str = "",
    ) -> SaveResult:
        """Create or replace an action. One whose secrets are missing is stored disabled, with a reason.
        A change to its definition makes a new version attributed to `actor` (see `guru_mcp.versions`)."""
        missing, warnings = await self.check(guru, spec)
        enabled, reason = spec.enabled, ""
        no_provider = await self.missing_provider(guru, spec)
        if missing:
            enabled = False
            reason = f"missing secrets: {', '.join(missing)}"
            if spec.enabled:
                warnings.append(f"stored disabled: {reason}; set them, then enable the action")
        elif no_provider:
            enabled = False
            reason = no_provider
            if spec.enabled:
                warnings.append(f"stored disabled: {reason}; configure it, then enable the agent")
        stored, created = await self.store.actions.save_action(
            guru,
            spec,
            enabled=enabled,
            disabled_reason=reason,
            create=create,
            replace=replace,
            expected_version=expected_version,
            actor=actor,
            summary=summary,
        )
        self._changed(guru)
        return SaveResult(stored, created, missing, warnings)

    async def set_enabled(self, guru: str, name: str, enabled: bool) -> StoredAction:
        stored = await self.get(guru, name)
        if enabled:
            missing, _ = await self.check(guru, stored.spec)
            if missing:
                raise ValidationFailed(
                    FieldError("secrets", f"set these secrets first: {', '.join(missing)}"),
                    prefix=f"cannot enable {name!r}",
                )
            no_provider = await self.missing_provider(guru, stored.spec)
            if no_provider:
                raise ValidationFailed(
                    FieldError("config.provider", no_provider), prefix=f"cannot enable {name!r}"
                )
        await self.store.actions.set_enabled(guru, [name], enabled, "" if enabled else "disabled by an admin")
        self._changed(guru)
        return await self.get(guru, name)

    async def disable_users_of_secret(self, guru: str, secret: str) -> list[str]:
        snap = await self.snapshot(guru)
        users = [n for n in self.users_of_secret(snap, secret) if snap.entries[n].stored.enabled]
        if users:
            await self.store.actions.set_enabled(guru, users, False, f"secret {secret} was deleted")
            self._changed(guru)
        return users

    async def save_checked(
        self, guru: str, checked: Sequence[CheckedSave], context: CheckContext, *, actor: str = ""
    ) -> Sequence[StoredAction]:
        """Save actions already validated together (`check_with` on `context`), in one transaction:
        all or none. Each is stored enabled or disabled exactly as `save_spec` would store it."""
        saves = []
        for item in checked:
            enabled, reason = item.spec.enabled, ""
            no_provider = self._provider_problem(context, item.spec)
            if item.missing:
                enabled, reason = False, f"missing secrets: {', '.join(item.missing)}"
            elif no_provider:
                enabled, reason = False, no_provider
            saves.append(ActionSave(item.spec, enabled, reason, item.summary))
        saved = await self.store.actions.save_actions(guru, saves, actor=actor)
        self._changed(guru)
        return saved

    def _provider_problem(self, context: CheckContext, spec: ActionSpec) -> str:
        if not isinstance(spec.config, AgentConfig) or self.providers is None:
            return ""
        if spec.config.provider in context.providers:
            return ""
        return f"model provider {spec.config.provider!r} is not configured (admin_provider_set)"

    async def missing_provider(self, guru: str, spec: ActionSpec) -> str:
        """Why an agent cannot run for want of its model provider ("" when it can, or is no agent)."""
        if not isinstance(spec.config, AgentConfig) or self.providers is None:
            return ""
        names = (
            {p.name for p in await self.providers.list_providers(guru)}
            if await self._guru_exists(guru)
            else set()
        )
        if spec.config.provider in names:
            return ""
        return f"model provider {spec.config.provider!r} is not configured (admin_provider_set)"

    async def delete(self, guru: str, name: str) -> list[str]:
        """Delete an action. Agents that list it as a tool are disabled; returns their names."""
        snap = await self.snapshot(guru)
        if name not in snap.entries:
            raise NotFound(f"no action named {name!r}")
        users = [
            n
            for n in users_of(name, {k: e.stored.spec for k, e in snap.entries.items()})
            if n != name and snap.entries[n].stored.enabled
        ]
        await self.store.actions.delete_action(guru, name)
        if users:
            await self.store.actions.set_enabled(guru, users, False, f"its tool {name} was deleted")
        self._changed(guru)
        return users

    def users_of_secret(self, snap: Snapshot, secret: str) -> list[str]:
        return sorted(name for name, e in snap.entries.items() if secret in e.secret_names)


def describe(action: StoredAction) -> dict[str, Any]:
    """A short listing row for an action."""
    spec = action.spec
    row: dict[str, Any] = {
        "name": spec.name,
        "title": spec.display_title,
        "type": spec.action_type.value,
        "enabled": action.enabled,
        "version": action.version,
        "parameters": [p.name for p in spec.parameters],
    }
    if action.disabled_reason:
        row["disabled_reason"] = action.disabled_reason
    if spec.action_type is ActionType.API_CALL:
        assert isinstance(spec.config, ApiCallConfig)
        row["request"] = f"{spec.config.method} {spec.config.endpoint}"
    if isinstance(spec.config, AgentConfig):
        row["tools"] = list(spec.config.tools)
        row["provider"] = spec.config.provider
    if spec.schedule is not None:
        row["schedule"] = spec.schedule.model_dump()
    if spec.groups:
        row["groups"] = list(spec.groups)
    return row
