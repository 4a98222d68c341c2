"""The bridge's targets as data: one ``TargetSpec`` per target, everything else derives from it.

This is the contract layer (it imports only ``events`` and ``errors``), so ``settings``,
``streams/`` (the gateway's feeds), ``bridge/`` (routes, targets, transforms, the CLI), the
dashboard (records, probes, the latency chart) and the docs all read the same table::

    name        feed endpoint    port   endpoint setting           label        routed here
    legion      /legion_events   8003   CTAS_LEGION_ENDPOINT       Legion       schema_updated,
                                                                                task_executed,
                                                                                qa5_validation
    dashboard   /dioxus_events   8004   CTAS_DIOXUS_ENDPOINT       Dashboard    schema_updated, ...
    neural_mux  /mux_events      18100  CTAS_NEURAL_MUX_ENDPOINT   Neural Mux   schema_updated, ...

Adding a target is one ``TargetSpec`` in ``BUILTIN`` (or ``register_target(spec)`` at run time,
which is what the throwaway-target test does) plus its transform: the default routing table,
``build_targets``, ``Settings`` (the endpoint variable), the gateway's feed and port, the
``ctas7 bridge`` flags, the dashboard's stream, probes and latency chart follow.

A spec's ``transform`` is the payload the target receives for an event type the per-type
table of ``bridge/transforms.py`` does not name: a callable, or ``"module:attribute"`` resolved
when first used (so this module never imports ``bridge/``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ctas7_panel.errors import ConfigError

if TYPE_CHECKING:
    from ctas7_panel.events import Event

Transform = Callable[["Event"], dict[str, Any]]
TARGET_PREFIX = "target."
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_FEED = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """One delivery target of the bridge.

    ``name``: the route name (``legion``); the bus topic is ``target.<name>``.
    ``feed``: the gateway endpoint relaying that topic (``legion_events``), or None for a
    target without a feed (delivered in process only). ``default_port``: the feed's port when
    ``CTAS7_GATEWAY_PORT`` is unset. ``setting``/``setting_attr``: the environment variable and
    ``Settings`` attribute naming where the feed is served (a URL on another host makes the
    bridge forward there over a websocket). ``transform``: the target's generic payload
    (callable or ``"module:attribute"``). ``label``: what the dashboard shows. ``routes``: the
    event types (or globs) the default routing table sends here. ``color``: the dashboard's
    chart color.
    """

    name: str
    feed: str | None
    default_port: int | None
    setting: str | None
    setting_attr: str | None
    transform: Transform | str
    label: str
    routes: tuple[str, ...] = ()
    color: str = "#8b98a8"
    setting_doc: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(
                f"target name {self.name!r}: use lowercase letters, digits and '_' (e.g. legion)"
            )
        if self.feed is not None and not _FEED.match(self.feed):
            raise ConfigError(f"target {self.name}: feed {self.feed!r} is not a path segment")
        if (self.setting is None) != (self.setting_attr is None):
            raise ConfigError(f"target {self.name}: give both setting and setting_attr, or neither")

    @property
    def topic(self) -> str:
        """The bus topic the bridge publishes this target's events on."""
        return target_topic(self.name)

    @property
    def default_url(self) -> str | None:
        """Where the feed is served by default (``ws://localhost:<port>/<feed>``)."""
        if self.feed is None or self.default_port is None:
            return None
        return f"ws://localhost:{self.default_port}/{self.feed}"

    def resolve_transform(self) -> Transform:
        """The transform callable (importing ``"module:attribute"`` on first use)."""
        if not isinstance(self.transform, str):
            return self.transform
        import importlib

        module, _, attr = self.transform.partition(":")
        try:
            fn: Transform = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"target {self.name}: transform {self.transform!r} cannot be imported ({exc}); "
                "give 'module:function' or a callable"
            ) from exc
        return fn


def target_topic(name: str) -> str:
    """The bus topic a target's events are published on."""
    return f"{TARGET_PREFIX}{name}"


def target_of(topic: str) -> str | None:
    """``"target.legion"`` -> ``"legion"``; any other topic -> None."""
    return topic[len(TARGET_PREFIX) :] if topic.startswith(TARGET_PREFIX) else None


LEGION = "legion"
DASHBOARD = "dashboard"
NEURAL_MUX = "neural_mux"

BUILTIN: tuple[TargetSpec, ...] = (
    TargetSpec(
        LEGION,
        feed="legion_events",
        default_port=8003,
        setting="CTAS_LEGION_ENDPOINT",
        setting_attr="legion_endpoint",
        transform="ctas7_panel.bridge.transforms:legion_generic",
        label="Legion",
        routes=("schema_updated", "task_executed", "qa5_validation"),
        color="#58a6ff",
        setting_doc="where the Legion feed is served (seed name; see README on the seed's ports)",
    ),
    TargetSpec(
        DASHBOARD,
        feed="dioxus_events",
        default_port=8004,
        setting="CTAS_DIOXUS_ENDPOINT",
        setting_attr="dioxus_endpoint",
        transform="ctas7_panel.bridge.transforms:dashboard_generic",
        label="Dashboard",
        routes=(
            "schema_updated",
            "schema_nochange",
            "schema_error",
            "playwright_test_*",
            "qa5_validation",
            "legion_schema_telemetry",
            "bridge_metrics",
        ),
        color="#3fb950",
        setting_doc="where the dashboard feed is served (seed name)",
    ),
    TargetSpec(
        NEURAL_MUX,
        feed="mux_events",
        default_port=18100,
        setting="CTAS_NEURAL_MUX_ENDPOINT",
        setting_attr="neural_mux_endpoint",
        transform="ctas7_panel.bridge.transforms:mux_generic",
        label="Neural Mux",
        routes=(
            "schema_updated",
            "schema_error",
            "task_executed",
            "playwright_test_*",
            "qa5_validation",
            "legion_schema_telemetry",
            "bridge_metrics",
        ),
        color="#d2a8ff",
        setting_doc="where the Neural Mux feed is served (seed)",
    ),
)

# The order of the default routing table's rows (the seed's matrix); a pattern a spec routes
# that is not listed here comes after these, in spec order.
ROUTE_ORDER: tuple[str, ...] = (
    "schema_updated",
    "schema_nochange",
    "schema_error",
    "task_executed",
    "playwright_test_*",
    "qa5_validation",
    "legion_schema_telemetry",
    "bridge_metrics",
)

_registry: dict[str, TargetSpec] = {s.name: s for s in BUILTIN}


def target_specs() -> tuple[TargetSpec, ...]:
    """Every target, built-in ones first, then those registered at run time."""
    return tuple(_registry.values())


def target_names() -> tuple[str, ...]:
    return tuple(_registry)


def get_spec(name: str) -> TargetSpec | None:
    return _registry.get(name)


def feed_specs() -> tuple[TargetSpec, ...]:
    """The targets with a gateway feed."""
    return tuple(s for s in _registry.values() if s.feed is not None)


def endpoint_specs() -> tuple[TargetSpec, ...]:
    """The targets with an endpoint setting (a ``Settings`` attribute and a variable)."""
    return tuple(s for s in _registry.values() if s.setting is not None)


def default_routes() -> dict[str, tuple[str, ...]]:
    """The default routing table: each event type (or glob) and the targets whose spec lists it,
    in table order."""
    patterns = list(ROUTE_ORDER)
    for spec in _registry.values():
        patterns += [p for p in spec.routes if p not in patterns]
    rows: dict[str, tuple[str, ...]] = {}
    for pattern in patterns:
        names = tuple(s.name for s in _registry.values() if pattern in s.routes)
        if names:
            rows[pattern] = names
    return rows


def register_target(spec: TargetSpec) -> None:
    """Add a target for the rest of the process (a plugin, a test's throwaway target)."""
    if spec.name in _registry:
        raise ConfigError(f"target {spec.name!r} is already registered: pick another name")
    clash = [s.name for s in _registry.values() if spec.feed and s.feed == spec.feed]
    if clash:
        raise ConfigError(f"target {spec.name}: feed /{spec.feed} is already {clash[0]}'s")
    _registry[spec.name] = spec


def unregister_target(name: str) -> None:
    """Remove a target registered at run time (the built-in ones stay)."""
    if any(s.name == name for s in BUILTIN):
        raise ConfigError(f"target {name!r} is built in and cannot be removed")
    _registry.pop(name, None)


@contextlib.contextmanager
def extra_target(spec: TargetSpec) -> Iterator[TargetSpec]:
    """``register_target(spec)`` for the ``with`` block only."""
    register_target(spec)
    try:
        yield spec
    finally:
        unregister_target(spec.name)


def endpoint_defaults() -> Mapping[str, str]:
    """``{setting_attr: default URL}`` of every target with an endpoint setting."""
    return {
        s.setting_attr: s.default_url or "" for s in endpoint_specs() if s.setting_attr is not None
    }


__all__ = [
    "BUILTIN",
    "DASHBOARD",
    "LEGION",
    "NEURAL_MUX",
    "TargetSpec",
    "default_routes",
    "extra_target",
    "feed_specs",
    "get_spec",
    "register_target",
    "target_names",
    "target_of",
    "target_specs",
    "target_topic",
    "unregister_target",
]
