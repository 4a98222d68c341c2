"""The demo's pure parts: churn DDL alternates add/drop; task specs are valid Legion queries."""

from __future__ import annotations

import pytest

from ctas7_panel.demo import churn_sql, task_specs
from ctas7_panel.events import Event
from ctas7_panel.legion import Query
from ctas7_panel.migrations import bundled
from ctas7_panel.serve_cli import _print_event


def test_churn_alternates_add_and_drop_of_the_same_column() -> None:
    steps = [churn_sql(i) for i in range(4)]
    assert steps[0].startswith("ALTER TABLE public.crates ADD COLUMN")
    assert steps[1].startswith("ALTER TABLE public.crates DROP COLUMN")
    assert steps[0].split()[-2] == steps[1].split()[-1] == "demo_note_0"
    assert "demo_note_1" in steps[2] and "demo_note_1" in steps[3]


def test_task_specs_build_queries() -> None:
    names = set()
    for n in range(12):
        for name, spec in task_specs(n):
            Query(**spec)  # raises on a malformed spec
            names.add(name)
    assert len(names) == 6


def test_demo_migrations_are_ordered_and_real_ddl() -> None:
    demo = bundled("demo")
    assert [m.name for m in demo] == sorted(m.name for m in demo)
    assert len(demo) >= 8
    assert all(m.sql.strip() for m in demo)


def test_test_run_problem_names_what_went_wrong() -> None:
    from ctas7_panel.demo import test_run_problem

    assert test_run_problem(0, "8 passed in 1.2s") is None
    assert test_run_problem(1, "1 failed, 6 passed, 1 skipped") is None  # a normal run
    usage = test_run_problem(4, "ERROR: usage: ...\nERROR: unrecognized arguments: --ctas7-x\n")
    assert (
        usage == "pytest was called wrongly (usage error): ERROR: unrecognized arguments: --ctas7-x"
    )
    assert test_run_problem(5, "no tests ran in 0.01s") == (
        "pytest collected no tests: no tests ran in 0.01s"
    )
    assert test_run_problem(-9, "") == "pytest exit code -9"
    warned = "8 passed, 1 warning\n  Ctas7TelemetryWarning: ctas7 telemetry: bridge ws://x: 16 ..."
    assert test_run_problem(0, warned) == "ctas7 telemetry: bridge ws://x: 16 ..."


def test_the_plugin_is_used_only_when_the_app_can_be_reached() -> None:
    from ctas7_panel.demo import uses_plugin

    assert uses_plugin({"CTAS7_BRIDGE_URL": "ws://127.0.0.1:1/telemetry_bridge"})
    assert uses_plugin({"CTAS7_BUS_URL": "redis://127.0.0.1:6379/0"})
    assert not uses_plugin({"CTAS7_BUS_URL": "memory://"})
    assert not uses_plugin({})  # never the default port of whatever app runs there


def test_demo_printer_survives_a_time_the_clock_cannot_show(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A producer on the bus is not checked at the edge: ``ctas7 demo`` prints the event anyway."""
    for ts in (1e300, float("nan"), -1e20):
        _print_event(Event("e1", "task_executed", ts, "legion", {"status": "ok"}), as_json=False)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and all(line.startswith("--:--:-- task_executed") for line in out), out
