"""Secrets at rest (AES-256-GCM) and masking of secret values in everything that leaves the process.

Ciphertext layout: `nonce (12 bytes) || ciphertext+tag`, base64-encoded, stored with the id of the key
that made it. The associated data binds a ciphertext to its guru and name, so a row copied onto
another secret does not decrypt. Older keys stay usable for decryption during a rotation.

`cryptography` is imported where a key is made or used, not with the module: every command imports
this one (log masking), and few of them encrypt or decrypt.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import os
import re
import secrets as _random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from guru_mcp.errors import ConfigError, GuruError

MASK = "[REDACTED]"


def new_key() -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM.generate_key(bit_length=256)


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"guru-mcp-key:" + key).hexdigest()[:12]


def decode_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise ConfigError("the secret key must be base64 of 32 bytes") from None
    if len(key) != 32:
        raise ConfigError(f"the secret key must be 32 bytes (AES-256), got {len(key)}")
    return key


def write_key_file(path: Path) -> bool:
    """Create a key file (mode 0600) unless one exists. Returns True if it was created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(new_key()).decode() + "\n")
    return True


def read_key_file(path: Path) -> bytes:
    if not path.exists():
        raise ConfigError(f"no secret key: set GURU_MCP_SECRET_KEY or run `guru-mcp init` to create {path}")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    return decode_key(path.read_text())


class SecretDecryptError(GuruError):
    """A stored secret cannot be decrypted with any configured key."""


class Keyring:
    """The primary key (encrypts) and older keys (decrypt only), indexed by key id."""

    def __init__(self, primary: bytes, older: Iterable[bytes] = ()) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.primary_id = key_id(primary)
        self._primary = primary
        self._keys = {key_id(k): AESGCM(k) for k in (*older, primary)}

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for another use (e.g. console session cookies, request state), derived from
        the primary key with HMAC-SHA256 so that it is the same on every replica and never equals the
        key of secrets."""
        return hmac.new(self._primary, f"guru-mcp:derive:{purpose}".encode(), hashlib.sha256).digest()

    @staticmethod
    def _aad(guru: str, name: str) -> bytes:
        return f"guru-mcp:v1:{guru}:{name}".encode()

    def encrypt(self, guru: str, name: str, value: str) -> tuple[str, str]:
        nonce = _random.token_bytes(12)
        sealed = self._keys[self.primary_id].encrypt(nonce, value.encode(), self._aad(guru, name))
        return base64.b64encode(nonce + sealed).decode(), self.primary_id

    def decrypt(self, guru: str, name: str, ciphertext: str, kid: str) -> str:
        aead = self._keys.get(kid)
        if aead is None:
            raise SecretDecryptError(f"secret {name!r} was encrypted with key {kid}, which is not configured")
        from cryptography.exceptions import InvalidTag

        raw = base64.b64decode(ciphertext)
        try:
            return aead.decrypt(raw[:12], raw[12:], self._aad(guru, name)).decode()
        except InvalidTag:
            raise SecretDecryptError(f"secret {name!r} failed its integrity check") from None


def _encodings(value: str) -> set[str]:
    """The raw value and the encodings under which it commonly leaks."""
    raw = value.encode()
    forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    # Base64 at each of the three alignments, so the value is found inside the base64 of a longer
    # string too (e.g. HTTP basic auth `user:secret`). Edge characters depend on the neighbours.
    for pad in range(3):
        total = pad + len(raw)
        # Characters that depend on the padding (at the start) or on what follows (at the end) vary.
        start, end_cut = (0, 2, 3)[pad], (1 if total % 3 else 0)
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * pad + raw).decode().rstrip("=")
            core = text[start : len(text) - end_cut]
            if len(core) >= 6:
                forms.add(core)
    forms.add(base64.b64encode(raw).decode())
    forms.add(raw.hex())
    forms.add(raw.hex().upper())
    return {f for f in forms if f}


class Masker:
    """Replaces secret values, and their encodings, with `[REDACTED]` in text and JSON-like data."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for value in values:
            if value:
                forms |= _encodings(value)
        self._pattern = (
            re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))
            if forms
            else None
        )

    @staticmethod
    def of(values: Iterable[str]) -> Masker:
        """The masker for this set of secret values, built once per set (compiling the pattern of
        every encoding is the expensive part) and shared by the runs of actions that use that set."""
        return _masker_of(frozenset(v for v in values if v))

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def contains(self, value: str) -> bool:
        """Whether `value` holds a secret in any of the masked forms."""
        return self._pattern is not None and self._pattern.search(value) is not None

    def text(self, value: str) -> str:
        if self._pattern is None or not value:
            return value
        return self._pattern.sub(MASK, value)

    def data(self, value: Any) -> Any:
        """Mask every string (keys too) in a JSON-like structure."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value


@functools.lru_cache(maxsize=256)
def _masker_of(values: frozenset[str]) -> Masker:
    # Bounded: the values are the decrypted secrets this process holds anyway (see SecretRegistry).
    return Masker(values)


NO_SECRETS = Masker()
"""The masker of a run without secrets: masks nothing."""


class SecretRegistry:
    """Every secret value this process has decrypted, so logs can be masked too."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._masker = Masker()

    def add(self, values: Iterable[str]) -> None:
        new = {v for v in values if v and v not in self._values}
        if new:
            self._values |= new
            self._masker = Masker(self._values)

    @property
    def masker(self) -> Masker:
        return self._masker


_SESSION_ID = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
"""MCP session ids as the SDK makes them (uuid4 hex); a logged one would let a reader of the logs
address the session."""
SESSION_MASK = "[session]"


class MaskingLogFilter(logging.Filter):
    """Masks known secret values in log records (message, arguments and exception text), and session
    ids in the records of the MCP SDK's HTTP transport."""

    def __init__(self, registry: SecretRegistry) -> None:
        super().__init__()
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("mcp.server.streamable_http"):
            record.msg = _SESSION_ID.sub(SESSION_MASK, record.getMessage())
            record.args = None
        masker = self.registry.masker
        if not masker.active:
            return True
        record.msg = masker.text(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = masker.text(record.exc_text)
        return True


REGISTRY = SecretRegistry()
"""The process-wide registry (one per process, like the logging system it serves)."""


def install_log_masking(registry: SecretRegistry = REGISTRY) -> None:
    """Mask secrets in everything the root logger's handlers write."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskingLogFilter) for f in handler.filters):
            handler.addFilter(MaskingLogFilter(registry))
