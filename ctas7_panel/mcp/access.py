"""Who may read and who may write through the MCP server (pure; the rules are
``ctas7_panel.access``'s, shared with the gateway and the dashboard).

Over HTTP the caller's role comes from ``Authorization: Bearer <token>``: once any token is
configured (always, off loopback), every request needs ``CTAS7_TOKEN`` (read) or
``CTAS7_ADMIN_TOKEN`` (admin), loopback included; with none configured (loopback only) everyone
may read. Over stdio the client is the user who spawned the process: ``admin`` when the process
was given ``CTAS7_ADMIN_TOKEN``, else ``read``.

Writes (``replay_dead_letters``) need ``--allow-writes`` *and* the ``admin`` role; ``ctas7 mcp``
refuses ``--allow-writes`` without ``CTAS7_ADMIN_TOKEN``, so a write always needs the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ctas7_panel.access import Role as _Role
from ctas7_panel.access import Tokens, bearer

Role = Literal["read", "admin"]


@dataclass(frozen=True)
class Access:
    tokens: Tokens = field(default_factory=Tokens)

    @classmethod
    def from_settings(cls, settings: object) -> Access:
        return cls(Tokens(getattr(settings, "token", None), getattr(settings, "admin_token", None)))

    def role(self, headers: Mapping[str, str] | None) -> Role | None:
        """The role of a request (``headers`` None: stdio); None means refused."""
        if headers is None:
            return "admin" if self.tokens.admin else "read"
        if not self.tokens.configured:
            return "read"
        given = bearer(headers.get("authorization") or headers.get("Authorization"))
        granted = self.tokens.role_for(given)
        if granted is _Role.ADMIN:
            return "admin"
        return "read" if granted is _Role.READ else None


__all__ = ["Access", "Role"]
