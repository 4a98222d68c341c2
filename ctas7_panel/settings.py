"""One typed ``Settings`` object, built once at the entry point from the environment and flags.

The seed's variables keep their names (``CTAS_*``, ``SUPABASE_PROJECT_ID``,
``PLAYWRIGHT_SCHEMA_AUDIT_ENABLED``); the project's own are ``CTAS7_*``. Every variable is listed
in ``VARIABLES`` (the README's configuration table is checked against it by a test). A bad value
raises ``ConfigError`` naming the variable and the accepted forms. Nothing below the entry point
reads ``os.environ``: components receive this object (or the values they need); the one write
is ``embedded.py`` setting ``XDG_RUNTIME_DIR`` for the PostgreSQL wheel (a documented exception).
The targets' endpoint variables come from the target table (``targetspec.py``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ctas7_panel.access import Tokens, check_tokens, is_loopback
from ctas7_panel.errors import ConfigError
from ctas7_panel.limits import DEFAULT_MAX_EVENT_BYTES
from ctas7_panel.targetspec import BUILTIN, TargetSpec, endpoint_specs, get_spec

TYPE_LANGUAGES: tuple[str, ...] = ("typescript", "python", "go", "swift")  # schema/languages.py


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable: its name, default (as text) and what it means."""

    name: str
    attr: str
    default: str | None
    doc: str
    secret: bool = False


def _endpoint_variable(spec: TargetSpec) -> Variable:
    assert spec.setting is not None and spec.setting_attr is not None
    return Variable(spec.setting, spec.setting_attr, spec.default_url, spec.setting_doc)


# the targets' endpoint variables (CTAS_LEGION_ENDPOINT, ...): from the target table
_ENDPOINT_VARIABLES = tuple(_endpoint_variable(s) for s in BUILTIN if s.setting is not None)

_ENDPOINT_DEFAULTS = {v.attr: v.default or "" for v in _ENDPOINT_VARIABLES}

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "CTAS_SCHEMA_PATH",
        "schema_path",
        "./database/supabase_schema.ts",
        "generated TypeScript types file (seed)",
    ),
    Variable(
        "CTAS_HASH_CACHE_PATH",
        "hash_cache_path",
        "./.last_schema_hash",
        "last schema fingerprint, plain hex (seed)",
    ),
    Variable(
        "SUPABASE_PROJECT_ID",
        "supabase_project_id",
        "ctas7-command-center",
        "Supabase project id, used by an external generator command (seed)",
    ),
    *_ENDPOINT_VARIABLES,
    Variable(
        "CTAS_BASE",
        "base_url",
        "http://localhost:3000",
        "base URL of the application under test (seed, Playwright)",
    ),
    Variable(
        "PLAYWRIGHT_SCHEMA_AUDIT_ENABLED",
        "schema_audit_enabled",
        "false",
        "run the schema audit before tests (seed): true/false; the pytest plugin audits when "
        "true, the CTAS7-SchemaAudit setup project unless false",
    ),
    Variable(
        "CTAS7_DATABASE_URL",
        "database_url",
        None,
        "postgresql:// URL of the database to watch; unset = embedded PostgreSQL",
        secret=True,
    ),
    Variable(
        "CTAS7_BUS_URL",
        "bus_url",
        "memory://",
        "event bus: memory:// (in-process) or redis://host:port/db (Redis Streams)",
        secret=True,
    ),
    Variable(
        "CTAS7_STORE_URL",
        "store_url",
        "sqlite:///./.ctas7/events.db",
        "event history: sqlite:///path or postgresql://...",
        secret=True,
    ),
    Variable(
        "CTAS7_BIND",
        "bind",
        "127.0.0.1",
        "address network servers (gateway, dashboard) listen on; anything but loopback needs "
        "CTAS7_TOKEN",
    ),
    Variable(
        "CTAS7_TOKEN",
        "token",
        None,
        "read token (16+ characters): the gateway's feeds, /metrics and ordinary events in, "
        "the dashboard (header, or its sign-in page); once set, required from every client",
        secret=True,
    ),
    Variable(
        "CTAS7_ADMIN_TOKEN",
        "admin_token",
        None,
        "admin token (16+ characters, not CTAS7_TOKEN): also replay and publishing reserved "
        "event types (schema_*, bridge_metrics, ...); sent by ctas7 audit/ingest and the "
        "pytest plugin",
        secret=True,
    ),
    Variable(
        "CTAS7_HOME",
        "home",
        "./.ctas7",
        "the project's working folder: the embedded database (pg/), the default event store "
        "(events.db) and the Playwright reporter's spill files (spill/); the schema artifacts "
        "live where CTAS_SCHEMA_PATH and CTAS_HASH_CACHE_PATH say",
    ),
    Variable(
        "CTAS7_MAX_EVENT_BYTES",
        "max_event_bytes",
        str(DEFAULT_MAX_EVENT_BYTES),
        "largest accepted event, in bytes",
    ),
    Variable(
        "CTAS7_POLL_INTERVAL", "poll_interval", "5", "schema watcher polling fallback, in seconds"
    ),
    Variable(
        "CTAS7_TYPEGEN_COMMAND",
        "typegen_command",
        None,
        "external generator replacing the built-in one (its stdout is the types file)",
    ),
    Variable(
        "CTAS7_TYPES",
        "types",
        None,
        "types files the sync node and the audit keep in step, comma-separated lang:path "
        "(typescript, python, go, swift), the first being the seed's types file; unset = "
        "typescript:<CTAS_SCHEMA_PATH>",
    ),
    Variable(
        "CTAS7_ROUTES", "routes_path", None, "TOML file overriding the bridge's routing table"
    ),
    Variable(
        "CTAS7_BRIDGE_URL",
        "bridge_url",
        "ws://127.0.0.1:8002/telemetry_bridge",
        "the bridge's websocket ingress, where the pytest plugin, ctas7 audit and ctas7 "
        "ingest send events when the bus is memory://, and the Playwright reporter always "
        "(with CTAS7_GATEWAY_PORT set: that port's; audit and ingest: no app listening at the "
        "default is not reported)",
    ),
    Variable(
        "CTAS7_CHROMIUM",
        "chromium_path",
        None,
        "Chromium the playwright.config.ts of ctas7 playwright init launches; unset = "
        "/usr/bin/chromium when present, else Playwright's own",
    ),
    Variable(
        "CTAS7_GATEWAY_PORT",
        "gateway_port",
        None,
        "serve every websocket endpoint on this one port (0: any free port); unset = the "
        "seed's ports 8001-8004 and 18100",
    ),
    Variable(
        "CTAS7_LOG_LEVEL",
        "log_level",
        "INFO",
        "logging level of every ctas7 command and the app: DEBUG, INFO, WARNING, ERROR",
    ),
    Variable(
        "CTAS7_DEV_INGEST_PORT",
        "dev_ingest_port",
        None,
        "dashboard development: run the dashboard on a light stand-in runtime (real bus, store "
        "and bridge, synthetic traffic) with a websocket ingest on this port",
    ),
    Variable(
        "CTAS7_DEMO_RATE",
        "demo_rate",
        "4",
        "synthetic events per second of the dashboard's development stand-in (0 = none)",
    ),
    Variable(
        "CTAS_DB_URL",
        "graph_url",
        None,
        "SurrealDB mirror of the schema graph (seed): surrealkv://PATH or mem:// (embedded, "
        "needs ctas7-panel[graph]) or ws://HOST:8000; unset = no mirror",
        secret=True,
    ),
)

_BY_ATTR = {v.attr: v for v in VARIABLES}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(name: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean: use true/false, 1/0, yes/no or on/off")


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be a positive whole number")
    return value


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"{name}={raw!r} must be a positive number of seconds")
    return value


def _url(schemes: tuple[str, ...]) -> Callable[[str, str], str]:
    def check(name: str, raw: str) -> str:
        scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
        if scheme not in schemes:
            forms = ", ".join(f"{s}://..." for s in schemes)
            shown = raw if len(raw) < 80 else raw[:77] + "..."
            raise ConfigError(f"{name}={shown!r} is not supported: use {forms}")
        return raw

    return check


def _bind(name: str, raw: str) -> str:
    host = raw.strip()
    if host in {"localhost", ""}:
        return "127.0.0.1" if not host else host
    try:
        ipaddress.ip_address(host)
    except ValueError as exc:
        raise ConfigError(
            f"{name}={raw!r} is not an IP address: use 127.0.0.1, ::1, 0.0.0.0 or a host address"
        ) from exc
    return host


def _port(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise ConfigError(f"{name}={raw!r} must be a TCP port number from 0 to 65535")
    return value


def _rate(name: str, raw: str) -> float:
    try:
        value = float(raw or 0)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigError(f"{name}={raw!r} must be a number of events per second, 0 or more")
    return value


def _log_level(name: str, raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(f"{name}={raw!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


def _text(name: str, raw: str) -> str:
    return raw


def _types_list(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    """``typescript:./a.ts, python:./b.py`` -> ((language, path), ...), checked."""
    example = "typescript:./database/supabase_schema.ts,python:./db/types.py"
    out: list[tuple[str, str]] = []
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        language, _, path = entry.partition(":")
        language, path = language.strip().lower(), path.strip()
        if language not in TYPE_LANGUAGES or not path:
            raise ConfigError(
                f"{name}: bad entry {entry!r}: use lang:path with lang one of "
                f"{', '.join(TYPE_LANGUAGES)}, e.g. {example}"
            )
        if path in (p for _, p in out):
            raise ConfigError(f"{name}: {path!r} is listed twice: give each file once")
        out.append((language, path))
    if not out:
        raise ConfigError(f"{name}={raw!r} lists no file: unset it or give e.g. {example}")
    return tuple(out)


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "schema_audit_enabled": _bool,
    "database_url": _url(("postgresql", "postgres")),
    "bus_url": _url(("memory", "redis", "rediss")),
    "store_url": _url(("sqlite", "postgresql", "postgres")),
    "bind": _bind,
    "max_event_bytes": _positive_int,
    "poll_interval": _positive_float,
    "log_level": _log_level,
    **{v.attr: _url(("ws", "wss")) for v in _ENDPOINT_VARIABLES},
    "base_url": _url(("http", "https")),
    "bridge_url": _url(("ws", "wss")),
    "gateway_port": _port,
    "dev_ingest_port": _port,
    "demo_rate": _rate,
    "types": _types_list,
    "graph_url": _url(("surrealkv", "mem", "memory", "ws", "wss")),
}
_PATHS = {"home", "routes_path"}
_PATH_TEXTS = {"schema_path", "hash_cache_path"}  # kept verbatim: they appear in event payloads


def redact_url(url: str) -> str:
    """Hide the password of a URL (``scheme://user:***@host/...``), for messages and logs."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable url>"
    if password:
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{password}@", ":***@")))
    return url


@dataclass(frozen=True)
class Settings:
    """Every setting of ctas7-panel. Build with ``Settings.from_env(os.environ, **overrides)``."""

    schema_path: str = "./database/supabase_schema.ts"
    hash_cache_path: str = "./.last_schema_hash"
    supabase_project_id: str = "ctas7-command-center"
    # the built-in targets' endpoints (targetspec.BUILTIN: one field each)
    legion_endpoint: str = _ENDPOINT_DEFAULTS["legion_endpoint"]
    dioxus_endpoint: str = _ENDPOINT_DEFAULTS["dioxus_endpoint"]
    neural_mux_endpoint: str = _ENDPOINT_DEFAULTS["neural_mux_endpoint"]
    base_url: str = "http://localhost:3000"
    schema_audit_enabled: bool = False
    database_url: str | None = field(default=None, repr=False)
    bus_url: str = field(default="memory://", repr=False)
    store_url: str = field(default="sqlite:///./.ctas7/events.db", repr=False)
    bind: str = "127.0.0.1"
    token: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)
    home: Path = Path("./.ctas7")
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    poll_interval: float = 5.0
    typegen_command: str | None = None
    types: tuple[tuple[str, str], ...] | None = None
    routes_path: Path | None = None
    bridge_url: str = "ws://127.0.0.1:8002/telemetry_bridge"
    chromium_path: str | None = None  # read by the JavaScript of ctas7 playwright init
    gateway_port: int | None = None
    log_level: str = "INFO"
    graph_url: str | None = field(default=None, repr=False)
    dev_ingest_port: int | None = None
    demo_rate: float = 4.0
    # endpoints of targets registered at run time (targetspec.register_target): (attr, url)
    extra_endpoints: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        tokens = check_tokens(self.token, self.admin_token)
        if not is_loopback(self.bind) and not tokens.configured:
            raise ConfigError(
                f"CTAS7_BIND={self.bind!r} listens beyond this machine: set CTAS7_TOKEN too "
                "(or bind 127.0.0.1)"
            )

    @property
    def tokens(self) -> Tokens:
        """The read and admin tokens (``ctas7_panel.access``)."""
        return Tokens(self.token, self.admin_token)

    def endpoint(self, target: str) -> str | None:
        """Where ``target``'s feed is served (its endpoint setting), or None when it has none."""
        spec = get_spec(target)
        if spec is None or spec.setting_attr is None:
            return None
        if spec.setting_attr in _FIELDS:
            value: str = getattr(self, spec.setting_attr)
            return value
        return dict(self.extra_endpoints).get(spec.setting_attr, spec.default_url)

    @property
    def client_token(self) -> str | None:
        """What the project's own clients send: the admin token when set, else the read one."""
        return self.admin_token or self.token

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            var = _BY_ATTR.get(f.name)
            if var is not None and var.secret and value is not None:
                value = redact_url(value) if "://" in value else "***"
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Read every variable of ``VARIABLES`` from ``environ``; ``overrides`` (CLI flags) win.

        Overrides whose value is None are ignored, so ``args.db_url`` can be passed as is.
        """
        values: dict[str, Any] = {}
        by_attr = {v.attr: v for v in variables()}
        for var in by_attr.values():
            raw = environ.get(var.name)
            if raw is None:
                continue
            if raw == "" and var.default is None:
                continue  # an empty optional variable means unset
            values[var.attr] = _convert(var, raw)
        for attr, value in overrides.items():
            if value is None:
                continue
            if attr not in by_attr and attr != "extra_endpoints":
                raise ConfigError(f"unknown setting {attr!r}")
            values[attr] = _convert(by_attr[attr], value) if isinstance(value, str) else value
        extra = tuple((a, values.pop(a)) for a in list(values) if a not in _FIELDS)
        if extra:
            values["extra_endpoints"] = tuple(values.get("extra_endpoints", ())) + extra
        settings = cls(**values)
        if "bridge_url" not in values and settings.gateway_bridge_url is not None:
            # the app serves every endpoint on CTAS7_GATEWAY_PORT: its clients send there
            settings = settings.replace(bridge_url=settings.gateway_bridge_url)
        return settings

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def gateway_bridge_url(self) -> str | None:
        """The ingress of a gateway on ``CTAS7_GATEWAY_PORT`` (None when unset or 0)."""
        if not self.gateway_port:
            return None
        host = "127.0.0.1" if self.bind in {"0.0.0.0", "::", "localhost"} else self.bind
        host = f"[{host}]" if ":" in host else host
        return f"ws://{host}:{self.gateway_port}/telemetry_bridge"

    @property
    def store_path(self) -> Path | None:
        """The SQLite file of ``store_url``, or None for a PostgreSQL store."""
        if self.store_url.startswith("sqlite://"):
            return Path(self.store_url[len("sqlite:///") :] or "./.ctas7/events.db")
        return None


_FIELDS = frozenset(f.name for f in dataclasses.fields(Settings))


def read_variable(environ: Mapping[str, str], name: str) -> Any:
    """One variable's value from ``environ`` by ``Settings``' rules (its default when unset or
    empty and optional), without reading or checking the others: for code that must not fail
    on an unrelated bad setting (the pytest plugin deciding whether it is enabled)."""
    var = next((v for v in variables() if v.name == name), None)
    if var is None:
        raise ConfigError(f"unknown variable {name!r}")
    raw = environ.get(name)
    if raw is None or (raw == "" and var.default is None):
        raw = var.default
    return None if raw is None else _convert(var, raw)


def is_set(environ: Mapping[str, str], name: str) -> bool:
    """True when ``environ`` gives variable ``name`` a value (an empty one counts as unset)."""
    return bool(environ.get(name))


def variables() -> tuple[Variable, ...]:
    """``VARIABLES`` and the endpoint variables of targets registered at run time."""
    known = {v.name for v in VARIABLES}
    extra = tuple(_endpoint_variable(s) for s in endpoint_specs() if s.setting not in known)
    return VARIABLES + extra


def _convert(var: Variable, raw: str) -> Any:
    if var.attr in _PATH_TEXTS:
        if not raw.strip():
            raise ConfigError(f"{var.name} is empty: give a file path")
        return raw
    if var.attr in _PATHS:
        if not raw.strip():
            raise ConfigError(f"{var.name} is empty: give a file path")
        return Path(raw)
    parser = _PARSERS.get(var.attr)
    if parser is None:
        spec_attrs = {s.setting_attr for s in endpoint_specs()}
        parser = _url(("ws", "wss")) if var.attr in spec_attrs else _text
    return parser(var.name, raw)
