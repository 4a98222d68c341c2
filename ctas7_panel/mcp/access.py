"""Who may read and who may write through the MCP server: the one place that decides (pure).

Over HTTP the caller's role comes from ``Authorization: Bearer <token>``, as at the websocket
gateway: ``CTAS7_ADMIN_TOKEN`` makes it ``admin``; with ``CTAS7_TOKEN`` set, that token makes it
``read`` and anything else is refused; with no ``CTAS7_TOKEN`` (loopback only: ``Settings``
refuses another bind without one) everyone may read. Over stdio the client is the user who
spawned the process: ``admin`` when the process was given ``CTAS7_ADMIN_TOKEN``, else ``read``.
Tokens are compared in constant time.

Writes (``replay_dead_letters``) need ``--allow-writes`` *and* the ``admin`` role.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ctas7_panel.bridge.targets import token_ok

Role = Literal["read", "admin"]


@dataclass(frozen=True)
class Access:
    token: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: object) -> Access:
        return cls(
            token=getattr(settings, "token", None),
            admin_token=getattr(settings, "admin_token", None),
        )

    @property
    def required(self) -> bool:
        """Must an HTTP caller show a token at all?"""
        return bool(self.token)

    def role(self, headers: Mapping[str, str] | None) -> Role | None:
        """The role of a request (``headers`` None: stdio); None means refused."""
        if headers is None:
            return "admin" if self.admin_token else "read"
        given = bearer(headers)
        if self.admin_token and given is not None and token_ok(self.admin_token, given):
            return "admin"
        if not self.token:
            return "read"
        return "read" if given is not None and token_ok(self.token, given) else None


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer`` header (any header-name case)."""
    value = headers.get("authorization") or headers.get("Authorization")
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip()
    return None


__all__ = ["Access", "Role", "bearer"]
