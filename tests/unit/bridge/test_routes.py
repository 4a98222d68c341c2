"""Routing table: the seed's matrix, globs, fallback, TOML overrides (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctas7_panel.bridge.routes import (
    DEFAULT_TABLE,
    UNROUTED,
    RoutingTable,
    load_routes,
    parse_routes,
)
from ctas7_panel.errors import ConfigError

ALL = ("legion", "dashboard", "neural_mux")


@pytest.mark.parametrize(
    ("event_type", "targets"),
    [
        ("schema_updated", ALL),
        ("schema_nochange", ("dashboard",)),
        ("schema_error", ("dashboard", "neural_mux")),
        ("task_executed", ("legion", "neural_mux")),
        ("playwright_test_started", ("dashboard", "neural_mux")),
        ("playwright_test_completed", ("dashboard", "neural_mux")),
        ("playwright_test_anything_else", ("dashboard", "neural_mux")),
        ("qa5_validation", ALL),
        ("legion_schema_telemetry", ("dashboard", "neural_mux")),
        ("bridge_metrics", ("dashboard", "neural_mux")),
    ],
)
def test_default_matrix(event_type: str, targets: tuple[str, ...]) -> None:
    res = DEFAULT_TABLE.resolve(event_type)
    assert res.targets == targets
    assert not res.unrouted


def test_glob_route_is_named_by_its_pattern() -> None:
    assert DEFAULT_TABLE.resolve("playwright_test_skipped").route == "playwright_test_*"
    assert DEFAULT_TABLE.resolve("schema_updated").route == "schema_updated"


def test_unknown_type_goes_to_the_dashboard_and_is_marked_unrouted() -> None:
    res = DEFAULT_TABLE.resolve("deploy_finished")
    assert res.targets == ("dashboard",)
    assert res.unrouted
    assert res.route == UNROUTED


def test_exact_match_beats_glob_and_first_glob_wins() -> None:
    table = RoutingTable.from_mapping(
        {"a_*": ["legion"], "a_b*": ["neural_mux"], "a_bc": ["dashboard"]}
    )
    assert table.resolve("a_bc").targets == ("dashboard",)
    assert table.resolve("a_bd").targets == ("legion",)


def test_resolution_cache_stays_bounded() -> None:
    table = RoutingTable.from_mapping({"x": ["legion"]})
    for i in range(10_000):
        table.resolve(f"type_{i}")
    assert len(table._cache) <= 4096
    assert table.resolve("x").targets == ("legion",)


def test_toml_merges_over_the_default() -> None:
    table = parse_routes(
        """
        [routes]
        schema_updated = ["legion"]
        "deploy_*" = ["legion", "dashboard"]
        quiet = []
        """
    )
    assert table.resolve("schema_updated").targets == ("legion",)
    assert table.resolve("deploy_done").targets == ("legion", "dashboard")
    assert table.resolve("task_executed").targets == ("legion", "neural_mux")
    assert table.resolve("quiet").targets == ()
    assert not table.resolve("quiet").unrouted


def test_toml_replace_and_fallback() -> None:
    table = parse_routes('replace = true\nfallback = "legion"\n[routes]\nx = ["dashboard"]\n')
    assert table.resolve("schema_updated").targets == ("legion",)
    assert table.resolve("schema_updated").unrouted
    assert table.resolve("x").targets == ("dashboard",)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[routes\n", "not valid TOML"),
        ("colour = 1\n", "unknown key 'colour'"),
        ("[routes]\nx = 'legion'\n", "routes.x must be a list"),
        ('[routes]\nx = ["Legion!"]\n', "'Legion!' is not a valid name"),
        ("replace = 'yes'\n", "'replace' must be true or false"),
        ("routes = 3\n", "'routes' must be a table"),
    ],
)
def test_bad_toml_is_a_config_error_naming_the_problem(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match="CTAS7_ROUTES") as info:
        parse_routes(text)
    assert needle in str(info.value)


def test_load_routes_from_file(tmp_path: Path) -> None:
    assert load_routes(None) is DEFAULT_TABLE
    path = tmp_path / "routes.toml"
    path.write_text('[routes]\nschema_nochange = ["dashboard", "neural_mux"]\n')
    assert load_routes(path).resolve("schema_nochange").targets == ("dashboard", "neural_mux")
    with pytest.raises(ConfigError, match="cannot read the routing file"):
        load_routes(tmp_path / "missing.toml")


def test_targets_of_table() -> None:
    assert DEFAULT_TABLE.targets == frozenset(ALL)
