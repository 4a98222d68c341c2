"""What introspection gives a sync pass (``Inspection``), and the built-in inspector and differ.

Both are injectable into ``SchemaSyncNode`` (the audit wraps them to keep the catalog probe and
the diff text); the built-in ones use the project's catalog queries and generators.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True, slots=True)
class Inspection:
    """One look at the live schema: its fingerprint and how to render its types."""

    fingerprint: str
    table_count: int
    snapshot: dict[str, Any]
    # the built-in generator, run only when needed: ``render()`` is TypeScript,
    # ``render(language)`` any of ``languages.LANGUAGES``
    render: Callable[..., str]


@dataclass(frozen=True, slots=True)
class DiffSummary:
    summary: dict[str, Any]  # SchemaDiff.summary(): counts, and the first names of each kind
    changes: dict[str, Any]  # structured (SchemaDiff.to_dict())
    empty: bool


Inspector = Callable[[psycopg.Connection[Any], Any], Inspection]
Differ = Callable[[dict[str, Any], dict[str, Any]], DiffSummary]


def builtin_inspector(
    conn: psycopg.Connection[Any], options: Any, *, languages: tuple[str, ...] = ("typescript",)
) -> Inspection:
    """Introspect with the project's catalog queries and generators (``ctas7_panel.schema``);
    ``languages``: the ones ``render`` will be asked for (Python, Go, Swift need more catalog)."""
    from ctas7_panel.schema.introspect import introspect
    from ctas7_panel.schema.languages import generate, needs_type_list
    from ctas7_panel.schema.options import TypegenOptions
    from ctas7_panel.schema.snapshot import fingerprint, to_snapshot

    opts = TypegenOptions() if options is None else options
    catalog = introspect(conn, opts, type_list=any(needs_type_list(lang) for lang in languages))
    snapshot = to_snapshot(catalog)

    def render(language: str = "typescript") -> str:
        return generate(language, catalog, opts)

    return Inspection(
        fingerprint=fingerprint(snapshot),
        table_count=sum(1 for rel in catalog.relations if rel.is_table),
        snapshot=snapshot,
        render=render,
    )


def builtin_differ(old: dict[str, Any], new: dict[str, Any]) -> DiffSummary:
    from ctas7_panel.schema.diff import diff_snapshots

    diff = diff_snapshots(old, new)
    return DiffSummary(summary=diff.summary(), changes=diff.to_dict(), empty=diff.is_empty)
