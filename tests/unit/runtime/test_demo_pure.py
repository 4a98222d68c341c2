"""The demo's pure parts: churn DDL alternates add/drop; task specs are valid Legion queries."""

from __future__ import annotations

from ctas7_panel.demo import churn_sql, task_specs
from ctas7_panel.legion import Query
from ctas7_panel.migrations import bundled


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
