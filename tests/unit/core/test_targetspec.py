"""The target table: the seed's matrix derives from it, the docs list it, registering checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctas7_panel.errors import ConfigError
from ctas7_panel.targetspec import (
    BUILTIN,
    TargetSpec,
    default_routes,
    extra_target,
    register_target,
    target_names,
    unregister_target,
)

ROOT = Path(__file__).resolve().parents[3]

SEED_MATRIX = {
    "schema_updated": ("legion", "dashboard", "neural_mux"),
    "schema_nochange": ("dashboard",),
    "schema_error": ("dashboard", "neural_mux"),
    "task_executed": ("legion", "neural_mux"),
    "playwright_test_*": ("dashboard", "neural_mux"),
    "qa5_validation": ("legion", "dashboard", "neural_mux"),
    "legion_schema_telemetry": ("dashboard", "neural_mux"),
    "bridge_metrics": ("dashboard", "neural_mux"),
}


def spec(name: str = "extra", feed: str | None = "extra_events") -> TargetSpec:
    return TargetSpec(
        name,
        feed=feed,
        default_port=0,
        setting=None,
        setting_attr=None,
        transform=lambda e: dict(e.payload),
        label=name,
        routes=("extra_*",),
    )


def test_the_default_routes_are_the_seed_matrix_in_its_order() -> None:
    assert list(default_routes().items()) == list(SEED_MATRIX.items())


def test_the_architecture_doc_lists_every_built_in_target() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    for s in BUILTIN:
        row = f"| `{s.name}` | `/{s.feed}` | {s.default_port} | `{s.setting}` | {s.label} |"
        assert row in doc, row


def test_a_registered_target_comes_and_goes() -> None:
    with extra_target(spec()):
        assert target_names()[-1] == "extra"
        assert default_routes()["extra_*"] == ("extra",)
    assert "extra" not in target_names() and "extra_*" not in default_routes()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: register_target(spec("legion", None)), "already registered"),
        (lambda: register_target(spec("other", "legion_events")), "already legion's"),
        (lambda: unregister_target("legion"), "built in"),
        (lambda: spec("Bad-Name"), "lowercase"),
        (
            lambda: TargetSpec("x", None, None, "CTAS7_X", None, transform="m:f", label="x"),
            "both setting and setting_attr",
        ),
        (
            lambda: (
                spec().__class__("y", None, None, None, None, "no.such:fn", "y").resolve_transform()
            ),
            "cannot be imported",
        ),
    ],
)
def test_mistakes_in_an_entry_say_what_to_fix(make: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()  # type: ignore[operator]
