"""The gateway's endpoints, configuration and access: which endpoints exist on which ports
(the gateway's own two and one feed per target of the target table), ``GatewayConfig``, the
role a request's token grants, and the counters every part of the gateway adds to.

Security (``ctas7_panel.access``, ``docs/security.md``): loopback by default; binding elsewhere
needs ``CTAS7_TOKEN``. When a token is set, every request must carry one as
``Authorization: Bearer <token>`` or ``?token=<token>`` (compared in constant time); otherwise
HTTP 401.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from ctas7_panel import access
from ctas7_panel.access import Role, Tokens
from ctas7_panel.errors import ConfigError
from ctas7_panel.netutil import endpoint_is_local
from ctas7_panel.settings import DEFAULT_MAX_EVENT_BYTES
from ctas7_panel.streams.bus import DEFAULT_TOPIC
from ctas7_panel.targetspec import feed_specs

if TYPE_CHECKING:
    from websockets.http11 import Request

    from ctas7_panel.settings import Settings

SCHEMA = "schema_events"
INGRESS = "telemetry_bridge"
LEGION = "legion_events"
DIOXUS = "dioxus_events"
MUX = "mux_events"
OWN_PORTS: dict[str, int] = {SCHEMA: 8001, INGRESS: 8002}  # the gateway's own endpoints
MetricRow = tuple[str, str, dict[str, str], float]  # (name, type, labels, value)
MetricsText = Callable[[Sequence[MetricRow]], str]  # the gateway's rows -> /metrics text


def default_ports() -> dict[str, int]:
    """Every endpoint and its default port: the gateway's own, then each target feed's."""
    ports = dict(OWN_PORTS)
    for spec in feed_specs():
        assert spec.feed is not None
        ports[spec.feed] = spec.default_port or 0
    return ports


def feed_topics() -> dict[str, str]:
    """Each feed endpoint and the bus topic it relays."""
    topics = {SCHEMA: DEFAULT_TOPIC}
    for spec in feed_specs():
        assert spec.feed is not None
        topics[spec.feed] = spec.topic
    return topics


DEFAULT_PORTS: dict[str, int] = default_ports()  # the built-in targets' (default_ports(): all)


@dataclass(frozen=True)
class GatewayConfig:
    """Where and how the gateway listens. ``GatewayConfig.from_settings(settings, ...)``."""

    bind: str = "127.0.0.1"
    token: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)
    ports: Mapping[str, int] = field(default_factory=default_ports)
    single_port: int | None = None
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    max_send_buffer: int = 1 << 20
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    reject_keep_bytes: int = 4096
    compression: bool = False  # permessage-deflate: costs more CPU than it saves on events

    def __post_init__(self) -> None:
        tokens = access.check_tokens(self.token, self.admin_token)
        if not access.is_loopback(self.bind) and not tokens.configured:
            raise ConfigError(
                f"gateway bind {self.bind!r} is reachable from other machines: set CTAS7_TOKEN "
                "(or bind 127.0.0.1)"
            )
        known = default_ports()
        unknown = sorted(set(self.ports) - set(known))
        if unknown:
            raise ConfigError(f"unknown gateway endpoint {unknown[0]!r}: use {', '.join(known)}")

    @property
    def tokens(self) -> Tokens:
        return Tokens(self.token, self.admin_token)

    @property
    def hard_max_bytes(self) -> int:
        return 4 * self.max_event_bytes

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        single_port: int | None = None,
        ports: Mapping[str, int] | None = None,
        **options: Any,
    ) -> GatewayConfig:
        """Ports: the seed's defaults, the port of each target's endpoint setting
        (``CTAS_LEGION_ENDPOINT``, ``CTAS_DIOXUS_ENDPOINT``, ``CTAS_NEURAL_MUX_ENDPOINT``, ...)
        when it is on this machine, then ``ports`` (CLI flags)."""
        chosen = default_ports()
        for spec in feed_specs():
            assert spec.feed is not None
            url = settings.endpoint(spec.name)
            port = urlsplit(url).port if url else None
            if url and port and endpoint_is_local(url):
                chosen[spec.feed] = port
        chosen.update(ports or {})
        return cls(
            bind=settings.bind,
            token=settings.token,
            admin_token=settings.admin_token,
            ports=chosen,
            single_port=single_port,
            max_event_bytes=settings.max_event_bytes,
            **options,
        )


@dataclass
class GatewayStats:
    """What the gateway counted (``/metrics``: ``ctas7_gateway_*``)."""

    accepted: int = 0
    rejected: int = 0
    forbidden: int = 0  # reserved event types sent with the read token
    publish_failed: int = 0
    rejects_kept: int = 0
    slow_closed: int = 0
    unauthorized: int = 0
    feed_skipped: int = 0  # events a feed could not encode (dead-lettered)
    sent: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    relayed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # sends a feed skipped, per (endpoint, reason): busy (a fragmented send in progress), not
    # open (closing), failed (the write raised), slow (closed as a slow consumer); each counts
    # the messages that client did not get
    skipped: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))


def request_role(tokens: Tokens, request: Request) -> Role:
    """The role a request's token grants (``Authorization: Bearer`` or ``?token=``); with no
    token configured, everyone is admin (loopback only: ``GatewayConfig`` checks the bind)."""
    if not tokens.configured:
        return Role.ADMIN
    given = access.bearer(request.headers.get("Authorization"))
    if given is None:
        values = parse_qs(urlsplit(request.path).query).get("token")
        given = values[0] if values else None
    return tokens.role_for(given)
