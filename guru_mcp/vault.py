"""Secrets as a service: set, list (names only), delete (disabling the actions that use it), resolve."""

from __future__ import annotations

from typing import Any

from guru_mcp.catalog import Catalog
from guru_mcp.errors import FieldError, ValidationFailed
from guru_mcp.models import BUILTIN_VARIABLES, MIN_SECRET_LENGTH
from guru_mcp.save_checks import secret_name_problem
from guru_mcp.secrets import REGISTRY, Keyring, SecretRegistry
from guru_mcp.store import Store


class Vault:
    """Secret values go in and come out only to executors; no tool or command ever returns one."""

    def __init__(
        self, store: Store, keyring: Keyring, catalog: Catalog, registry: SecretRegistry = REGISTRY
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.catalog = catalog
        self.registry = registry

    async def put(
        self, guru: str, name: str, value: str, *, enable_ready: bool = False, hosts: list[str] | None = None
    ) -> dict[str, Any]:
        """Create or replace a secret. The answer lists the disabled actions that were waiting for it:
        `ready` (all their secrets are set now) and `still_missing`; with `enable_ready` the ready ones
        are enabled (`enabled`). The value is taken as given (a caller reading it from stdin strips one
        trailing newline first). `hosts`: where the secret may be sent (None keeps a replaced secret's
        list; an empty list means any host)."""
        problem = secret_name_problem(name)
        if problem:
            raise ValidationFailed(FieldError("name", problem))
        if name in BUILTIN_VARIABLES:
            raise ValidationFailed(FieldError("name", f"{name} is a reserved built-in variable name"))
        check_secret_value(value)
        if hosts is not None:
            hosts = check_secret_hosts(hosts)
        snap = await self.catalog.snapshot(guru)
        clashing = sorted(
            n for n, e in snap.entries.items() if name in {p.name for p in e.stored.spec.parameters}
        )
        if clashing:
            raise ValidationFailed(
                FieldError(
                    "name",
                    f"{name!r} is a parameter of {', '.join(clashing)}; secret and parameter names may not clash",
                )
            )
        self.registry.add([value])
        ciphertext, key_id = self.keyring.encrypt(guru, name, value)
        created = await self.store.secrets.put_secret(guru, name, ciphertext, key_id, hosts)
        waiting = sorted(
            n
            for n, e in snap.entries.items()
            if name in e.secret_names
            and not e.stored.enabled
            and e.stored.disabled_reason.startswith(("missing secrets", "secret "))
        )
        result: dict[str, Any] = {
            "name": name,
            "created": created,
            "used_by": self.catalog.users_of_secret(snap, name),
        }
        if not waiting:
            return result
        ready, still = [], {}
        for action in waiting:
            missing, _ = await self.catalog.check(guru, snap.entries[action].stored.spec)
            if missing:
                still[action] = missing
            else:
                ready.append(action)
        result["ready"] = ready
        notes = []
        if still:
            result["still_missing"] = still
            notes.append(
                "still waiting for other secrets: "
                + "; ".join(f"{a} ({', '.join(m)})" for a, m in still.items())
            )
        if ready and enable_ready:
            for action in ready:
                await self.catalog.set_enabled(guru, action, True)
            result["enabled"] = ready
            notes.insert(0, f"enabled: {', '.join(ready)}")
        elif ready:
            notes.insert(
                0,
                f"these disabled actions have all their secrets now: {', '.join(ready)}; enable them when ready",
            )
        result["note"] = "; ".join(notes)
        return result

    async def list_secrets(self, guru: str) -> list[dict[str, Any]]:
        snap = await self.catalog.snapshot(guru)
        return [
            {**info.as_dict(), "used_by": self.catalog.users_of_secret(snap, info.name)}
            for info in await self.store.secrets.list_secrets(guru)
        ]

    async def delete(self, guru: str, name: str) -> list[str]:
        """Delete a secret; returns the actions that were disabled because they use it."""
        await self.store.secrets.delete_secret(guru, name)
        return await self.catalog.disable_users_of_secret(guru, name)

    async def resolve(self, guru: str, names: frozenset[str] | set[str]) -> dict[str, str]:
        """Plain values of those of `names` that exist."""
        return (await self.resolve_scoped(guru, names))[0]

    async def resolve_scoped(
        self, guru: str, names: frozenset[str] | set[str]
    ) -> tuple[dict[str, str], dict[str, list[str]]]:
        """Plain values of those of `names` that exist, and the host lists of those limited to hosts."""
        if not names:
            return {}, {}
        stored = await self.store.secrets.sealed(guru, sorted(names))
        values = {n: self.keyring.decrypt(guru, n, s.ciphertext, s.key_id) for n, s in stored.items()}
        self.registry.add(values.values())
        return values, {n: s.hosts for n, s in stored.items() if s.hosts}


def check_secret_value(value: str) -> None:
    """Refuse values that cannot be masked meaningfully: blank, multi-line, or shorter than the minimum."""
    if not value.strip():
        raise ValidationFailed(FieldError("value", "the value is empty or only whitespace"))
    if any(c in value for c in "\r\n\0"):
        raise ValidationFailed(FieldError("value", "a secret value is one line (no line breaks or NUL)"))
    if len(value) < MIN_SECRET_LENGTH:
        raise ValidationFailed(
            FieldError(
                "value",
                f"secrets must be at least {MIN_SECRET_LENGTH} characters, so masking stays meaningful",
            )
        )


def check_secret_hosts(hosts: list[str]) -> list[str]:
    """The hosts a secret may be sent to, normalised; each is a host name, `*.suffix` or an IP address."""
    from guru_mcp.egress import host_pattern  # the egress module loads httpx: only when hosts are set

    out: list[str] = []
    for i, entry in enumerate(hosts):
        try:
            out.append(host_pattern(entry))
        except ValueError as exc:
            raise ValidationFailed(FieldError(f"hosts[{i}]", str(exc))) from None
    return list(dict.fromkeys(out))
