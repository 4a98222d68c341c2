"""The dashboard shows a schema change's impact under its diff (fold + pane, no browser)."""

from __future__ import annotations

from ctas7_panel import events as ev
from ctas7_panel.dashboard.tallies import SchemaInfo, fold_schema
from ctas7_panel.dashboard.views.impact import impact_html

IMPACT = {
    "basis": "catalog",
    "changes": [{"kind": "column", "name": "public.tasks.status", "change": "removed"}],
    "dependents": [
        {"kind": "view", "name": "public.open_tasks", "hop": 1, "breaking": True},
        {"kind": "types_file", "name": "types.ts", "hop": 1, "breaking": False},
    ],
    "counts": {"types_file": 1, "view": 1},
    "total": 2,
    "breaking": 1,
    "relations": ["public.open_tasks", "public.tasks"],
    "columns": ["public.tasks.status"],
    "truncated": False,
}


def updated(**extra: object) -> ev.Event:
    return ev.schema_updated(
        new_hash="b" * 64, old_hash="a" * 64, schema_path="t.ts", table_count=7, **extra
    )


def test_the_impact_is_folded_with_the_diff() -> None:
    info = fold_schema(SchemaInfo(), updated(diff={"text": "- column public.tasks.status"},
                                             impact=IMPACT), raw=True)  # fmt: skip
    assert info.diff_text == "- column public.tasks.status"
    lines = info.impact_text.splitlines()
    assert lines[0] == "impact: 2 dependents (1 types_file, 1 view), 1 breaking"
    assert "  hop 1: view public.open_tasks  BREAKING" in lines
    assert fold_schema(info, updated(), raw=True).impact_text == ""  # a change without one
    assert "unreadable" in fold_schema(SchemaInfo(), updated(impact={"total": "x", "counts": 3}),
                                       raw=True).impact_text  # fmt: skip


def test_the_pane_escapes_names() -> None:
    html = impact_html('hop 1: view public."<script>"')
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "no impact reported yet" in impact_html("")
