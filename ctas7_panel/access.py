"""Who may do what: the access decisions of every network surface, pure (no I/O).

Two tokens, two roles::

    CTAS7_TOKEN        read    feeds, the dashboard, GET /metrics, publishing ordinary events
    CTAS7_ADMIN_TOKEN  admin   all of the above, plus replay and publishing reserved event types

With no token configured every server binds loopback only and everything stays allowed to
whoever reaches it (``Tokens.configured`` is False): the machine's own users are trusted. As soon
as one token is configured, every request must carry one, loopback included (a reverse proxy on
the same host makes every client look local).

Reserved event types (``is_reserved``) are the ones the project itself produces and acts on:
``schema_*`` (Legion reloads on ``schema_updated``, the dashboard shows its hash),
``legion_schema_telemetry``, ``bridge_metrics``, ``invalid_event``, ``bus_rejected`` and
``ingress_rejected``. Through the websocket ingress they need the admin token; internal producers
on the bus are not affected.

Tokens are checked once, at start-up (``check_tokens``): at least ``MIN_TOKEN_LENGTH``
characters of printable ASCII without spaces (a token travels in an HTTP header and a query
string), and the two tokens must differ. A checked token is registered with ``logmask`` so that
no log line shows it.

The dashboard's decision (``dashboard_access``) also knows the client's address
(``is_loopback``), a Panel login (``--basic-auth`` / OAuth: ``pn.state.user``) and the
dashboard cookie (``session_cookie``: an HMAC of the token, never the token itself).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
from dataclasses import dataclass, field

from ctas7_panel import logmask
from ctas7_panel.errors import ConfigError

MIN_TOKEN_LENGTH = 16
TOKEN_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
RESERVED_PREFIXES: tuple[str, ...] = ("schema_",)
RESERVED_TYPES: frozenset[str] = frozenset(
    {
        "legion_schema_telemetry",
        "bridge_metrics",
        "invalid_event",
        "bus_rejected",
        "ingress_rejected",
        "store_rejected",
        "feed_skipped",
    }
)
RESERVED_RULE = (
    "reserved event types ("
    + ", ".join([f"{p}*" for p in RESERVED_PREFIXES] + sorted(RESERVED_TYPES))
    + ") need CTAS7_ADMIN_TOKEN"
)
COOKIE_NAME = "ctas7_session"
_COOKIE_CONTEXT = b"ctas7 dashboard session v1"


class Role(enum.IntEnum):
    """What a client may do; a higher role includes the lower ones."""

    NONE = 0
    READ = 1
    ADMIN = 2


def check_token(name: str, value: str | None) -> str | None:
    """``value`` if it is a usable token (None stays None); ``ConfigError`` naming ``name``."""
    if value is None:
        return None
    if not value.strip():
        raise ConfigError(f"{name} is blank: set a random token of {MIN_TOKEN_LENGTH}+ characters")
    if len(value) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"{name} is {len(value)} characters long: use at least {MIN_TOKEN_LENGTH} random "
            f"characters, e.g. {TOKEN_HINT}"
        )
    bad = next((c for c in value if not "!" <= c <= "~"), None)
    if bad is not None:
        raise ConfigError(
            f"{name} contains {'a space' if bad == ' ' else repr(bad)}: a token travels in an "
            f"HTTP header, use printable ASCII without spaces, e.g. {TOKEN_HINT}"
        )
    return value


def check_tokens(read: str | None, admin: str | None) -> Tokens:
    """Both tokens checked (``check_token``), different from each other, and masked in logs."""
    tokens = Tokens(check_token("CTAS7_TOKEN", read), check_token("CTAS7_ADMIN_TOKEN", admin))
    if read is not None and admin is not None and hmac.compare_digest(read, admin):
        raise ConfigError(
            "CTAS7_ADMIN_TOKEN equals CTAS7_TOKEN: give the admin token its own value, or unset "
            "it (the read token then cannot replay or publish reserved event types)"
        )
    logmask.protect(*(t for t in (read, admin) if t is not None))
    return tokens


def _same(expected: str | None, given: str | None) -> bool:
    if not expected or given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape"))


@dataclass(frozen=True)
class Tokens:
    """The configured tokens (either may be None). Not shown in ``repr``."""

    read: str | None = field(default=None, repr=False)
    admin: str | None = field(default=None, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.read or self.admin)

    def role_for(self, given: str | None) -> Role:
        """The role a presented token grants (constant-time; both tokens are always compared).

        With no token configured everyone is admin (loopback-only servers, as before roles).
        """
        if not self.configured:
            return Role.ADMIN
        admin, read = _same(self.admin, given), _same(self.read, given)
        return Role.ADMIN if admin else Role.READ if read else Role.NONE

    def role_for_cookie(self, cookie: str | None) -> Role:
        """The role a dashboard cookie (``session_cookie``) grants; NONE without tokens."""
        admin = _same(session_cookie(self.admin), cookie) if self.admin else False
        read = _same(session_cookie(self.read), cookie) if self.read else False
        return Role.ADMIN if admin else Role.READ if read else Role.NONE

    def may_publish(self, role: Role, event_type: str) -> bool:
        """Ingress: ordinary types need READ, reserved ones ADMIN; anything with no token."""
        if not self.configured:
            return True
        return role >= (Role.ADMIN if is_reserved(event_type) else Role.READ)

    def may_replay(self, role: Role) -> bool:
        return not self.configured or role >= Role.ADMIN


def is_reserved(event_type: str) -> bool:
    """Whether ``event_type`` is one the project itself produces (see the module docstring)."""
    return event_type in RESERVED_TYPES or event_type.startswith(RESERVED_PREFIXES)


def reserved_refusal(event_type: str) -> str:
    """The ingress error for a reserved type sent without the admin token (names the rule)."""
    return (
        f"event type {event_type!r} is reserved: {RESERVED_RULE} (this connection has the read "
        "token); send it with Authorization: Bearer <CTAS7_ADMIN_TOKEN>"
    )


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def session_cookie(token: str | None) -> str | None:
    """The dashboard cookie value for ``token``: HMAC-SHA256(token, fixed context), hex.

    It proves knowledge of the token to the dashboard only: it is not accepted by the gateway,
    and it reveals nothing about the token. Rotating the token invalidates every cookie.
    """
    if not token:
        return None
    return hmac.new(token.encode(), _COOKIE_CONTEXT, hashlib.sha256).hexdigest()


def is_loopback(address: str | None) -> bool:
    """Whether a bind address or a peer address (as a server sees it) is this machine's loopback.

    ``localhost``, ``127.0.0.0/8``, ``::1`` and IPv4-mapped ``::ffff:127.x.y.z``; anything else,
    including an unknown (None, empty) or unparsable address, is not.
    """
    if not address:
        return False
    host = address.strip()
    if host == "localhost":
        return True
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


class Refusal(enum.Enum):
    """Why a dashboard session was refused (selects the page shown instead)."""

    LOGIN = "login"  # tokens are configured: sign in with one
    REMOTE = "remote"  # no access control configured and the client is not on this machine


@dataclass(frozen=True, slots=True)
class Access:
    """A dashboard session's role, or why it was refused (``refusal``)."""

    role: Role
    via: str  # "token", "cookie", "panel-login", "loopback", or "" when refused
    refusal: Refusal | None = None

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    @property
    def admin(self) -> bool:
        return self.role >= Role.ADMIN


def dashboard_access(
    tokens: Tokens,
    *,
    client: str | None,
    bearer_token: str | None = None,
    cookie: str | None = None,
    panel_user: str | None = None,
) -> Access:
    """Decide one dashboard session, in this order:

    1. a token (``Authorization: Bearer``) or the dashboard cookie: its role;
    2. no token configured and a loopback client: admin (as before roles existed);
    3. a Panel login (``--basic-auth`` or an OAuth provider; Panel's unsigned ``guest`` does
       not count): read;
    4. otherwise refused: ``LOGIN`` when tokens are configured, else ``REMOTE``.
    """
    if tokens.configured:
        role = tokens.role_for(bearer_token) if bearer_token else Role.NONE
        if role is not Role.NONE:
            return Access(role, "token")
        role = tokens.role_for_cookie(cookie) if cookie else Role.NONE
        if role is not Role.NONE:
            return Access(role, "cookie")
    elif is_loopback(client):
        return Access(Role.ADMIN, "loopback")
    if panel_user and panel_user != "guest":
        return Access(Role.READ, "panel-login")
    return Access(Role.NONE, "", Refusal.LOGIN if tokens.configured else Refusal.REMOTE)
