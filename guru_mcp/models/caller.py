"""Who is calling (`Caller`): identity, groups, admin rights, and the built-in variables it gives runs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Caller(BaseModel):
    """Who is calling: from a static token, an OAuth access token, or the stdio configuration."""

    model_config = ConfigDict(frozen=True)

    key: str = "anonymous"
    """Stable identity of the real user for per-caller limits: `user:<email>` when the email is known,
    else the credential (`token:<id>`, `oauth:<issuer>#<sub>`), `stdio`, `schedule:<id>`."""
    email: str = ""
    name: str = ""
    groups: tuple[str, ...] = ()
    is_admin: bool = False
    """May use the admin tools of `guru`."""
    server_admin: bool = False
    """Admin of every guru: may also create, list and delete gurus."""
    guru: str = "default"
    via: str = ""
    """How the caller authenticated: `token`, `oauth`, `stdio`, `schedule`, ..."""
    subject: str = ""
    """The credential's stable id: the token id, or the OAuth issuer and subject."""

    def record(self) -> dict[str, Any]:
        """What a run record keeps of who called."""
        out: dict[str, Any] = {
            "key": self.key,
            "email": self.email,
            "name": self.name,
            "admin": self.is_admin,
        }
        if self.groups:
            out["groups"] = list(self.groups)
        if self.via:
            out["via"] = self.via
        if self.subject:
            out["subject"] = self.subject
        return out

    @property
    def who(self) -> str:
        """How changes made by this caller are attributed in version history."""
        return self.email or self.name or self.key

    def builtins(self) -> dict[str, str]:
        name = self.name or (self.email.split("@", 1)[0] if self.email else "")
        return {
            "GURUBASE_USER_EMAIL": self.email,
            "GURUBASE_USER_NAME": name,
            "GURUBASE_USER_GROUPS": ",".join(self.groups) if self.groups else "Everyone",
            "GURUBASE_GURU_SLUG": self.guru,
        }
