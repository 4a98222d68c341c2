"""The routing table: which targets get which event type. Data, not code; pure.

The default is the seed's matrix (plus the project's own event types), derived from the target
table (``ctas7_panel/targetspec.py``: each ``TargetSpec.routes``; ``default_table()`` follows
targets registered at run time)::

    schema_updated           -> legion, dashboard, neural_mux
    schema_nochange          -> dashboard
    schema_error             -> dashboard, neural_mux
    task_executed            -> legion, neural_mux
    playwright_test_*        -> dashboard, neural_mux
    qa5_validation           -> legion, dashboard, neural_mux
    legion_schema_telemetry  -> dashboard, neural_mux
    bridge_metrics           -> dashboard, neural_mux

An event type that matches no route goes to the ``fallback`` target (the dashboard) and is
counted as *unrouted*: nothing vanishes.

A TOML file named in ``CTAS7_ROUTES`` overrides it (``load_routes(path)``)::

    replace = false            # true: the file is the whole table; false (default): merge
    fallback = "dashboard"     # optional

    [routes]
    schema_updated = ["legion", "dashboard"]
    "deploy_*" = ["legion"]
    noisy_event = []           # routed nowhere on purpose (still stored, counted as routed)

Patterns are exact event types or ``fnmatch`` globs; an exact match wins, then the first glob
in table order.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ctas7_panel.errors import ConfigError
from ctas7_panel.targetspec import DASHBOARD, default_routes, target_names

ALL_TARGETS: tuple[str, ...] = target_names()  # the built-in ones; target_names() for all
UNROUTED = "unrouted"  # the route name under which fallback deliveries are counted

DEFAULT_ROUTES: dict[str, tuple[str, ...]] = default_routes()  # built-in; default_routes()

_TARGET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_GLOB_CHARS = frozenset("*?[")
_CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Route:
    """One row: an event type (or glob) and the targets it goes to."""

    pattern: str
    targets: tuple[str, ...]

    @property
    def is_glob(self) -> bool:
        return any(c in _GLOB_CHARS for c in self.pattern)


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where one event type goes: the matching route's name (or ``unrouted``) and targets."""

    route: str
    targets: tuple[str, ...]
    unrouted: bool = False


@dataclass(frozen=True)
class RoutingTable:
    """An ordered routing table. ``resolve(event_type)`` is pure (results are memoised)."""

    routes: tuple[Route, ...]
    fallback: str = DASHBOARD
    _exact: dict[str, Route] = field(init=False, repr=False, compare=False)
    _globs: tuple[Route, ...] = field(init=False, repr=False, compare=False)
    _cache: dict[str, Resolution] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_target(self.fallback, "fallback")
        seen: set[str] = set()
        for r in self.routes:
            if r.pattern in seen:
                raise ConfigError(f"route {r.pattern!r} is listed twice: keep one")
            seen.add(r.pattern)
            for t in r.targets:
                _check_target(t, f"route {r.pattern!r}")
        object.__setattr__(self, "_exact", {r.pattern: r for r in self.routes if not r.is_glob})
        object.__setattr__(self, "_globs", tuple(r for r in self.routes if r.is_glob))
        object.__setattr__(self, "_cache", {})

    @classmethod
    def from_mapping(
        cls, routes: Mapping[str, Iterable[str]], *, fallback: str = DASHBOARD
    ) -> RoutingTable:
        return cls(tuple(Route(p, tuple(ts)) for p, ts in routes.items()), fallback)

    @property
    def targets(self) -> frozenset[str]:
        """Every target named by the table (including the fallback)."""
        return frozenset({self.fallback, *(t for r in self.routes for t in r.targets)})

    def resolve(self, event_type: str) -> Resolution:
        hit = self._cache.get(event_type)
        if hit is not None:
            return hit
        route = self._exact.get(event_type)
        if route is None:
            route = next(
                (g for g in self._globs if fnmatch.fnmatchcase(event_type, g.pattern)), None
            )
        if route is None:
            res = Resolution(UNROUTED, (self.fallback,), unrouted=True)
        else:
            res = Resolution(route.pattern, route.targets)
        if len(self._cache) >= _CACHE_LIMIT:  # event types come from outside: stay bounded
            self._cache.clear()
        self._cache[event_type] = res
        return res

    def merged(
        self, other: Mapping[str, Iterable[str]], *, fallback: str | None = None
    ) -> RoutingTable:
        """This table with ``other``'s rows replacing or appending (in ``other``'s order)."""
        rows = {r.pattern: r.targets for r in self.routes}
        for pattern, targets in other.items():
            rows[pattern] = tuple(targets)
        return RoutingTable.from_mapping(rows, fallback=fallback or self.fallback)

    def to_dict(self) -> dict[str, object]:
        return {
            "fallback": self.fallback,
            "routes": {r.pattern: list(r.targets) for r in self.routes},
        }


def _check_target(name: object, where: str) -> None:
    if not isinstance(name, str) or not _TARGET_NAME.match(name):
        raise ConfigError(
            f"{where}: target {name!r} is not a valid name (lowercase letters, digits and '_', "
            f"e.g. {', '.join(target_names())})"
        )


DEFAULT_TABLE = RoutingTable.from_mapping(DEFAULT_ROUTES)  # the built-in targets'


def default_table() -> RoutingTable:
    """The default table for the targets registered now (``DEFAULT_TABLE`` plus those added
    with ``targetspec.register_target``)."""
    rows = default_routes()
    if rows == DEFAULT_ROUTES:
        return DEFAULT_TABLE
    return RoutingTable.from_mapping(rows)


def parse_routes(text: str, *, source: str = "CTAS7_ROUTES") -> RoutingTable:
    """The routing table described by TOML ``text`` (merged over the default unless ``replace``)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    unknown = sorted(set(doc) - {"replace", "fallback", "routes"})
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {unknown[0]!r}: use replace, fallback and a [routes] table"
        )
    rows = doc.get("routes", {})
    if not isinstance(rows, dict):
        raise ConfigError(f"{source}: 'routes' must be a table of event_type = [targets]")
    for pattern, targets in rows.items():
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise ConfigError(
                f"{source}: routes.{pattern} must be a list of target names, e.g. "
                '["legion", "dashboard"]'
            )
    replace = doc.get("replace", False)
    if not isinstance(replace, bool):
        raise ConfigError(f"{source}: 'replace' must be true or false")
    fallback = doc.get("fallback", DASHBOARD)
    _check_target(fallback, f"{source}: fallback")
    try:
        if replace:
            return RoutingTable.from_mapping(rows, fallback=fallback)
        return default_table().merged(rows, fallback=fallback)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def load_routes(path: Path | None) -> RoutingTable:
    """The default table, or the one from the TOML file at ``path`` (``CTAS7_ROUTES``)."""
    if path is None:
        return default_table()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"CTAS7_ROUTES={str(path)!r}: cannot read the routing file ({exc.strerror}); "
            "fix the path or unset CTAS7_ROUTES for the default table"
        ) from exc
    return parse_routes(text, source=f"CTAS7_ROUTES={str(path)!r}")
