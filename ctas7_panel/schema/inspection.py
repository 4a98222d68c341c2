"""What introspection gives a sync pass (``Inspection``), and the built-in inspectors and differ.

All are injectable into ``SchemaSyncNode`` (the audit wraps them to keep the catalog probe and
the diff text); the built-in ones use the project's catalog queries and generators.
``builtin_inspector`` reads the whole catalog each call; ``IncrementalInspector`` (the node's
default) keeps an ``IncrementalReader`` across calls, so after a DDL it reads again only the
relations that changed and their dependents, with the very same result (snapshot,
fingerprint, catalog, so types) as ``builtin_inspector``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg

if TYPE_CHECKING:
    from ctas7_panel.schema.introspect_incremental import IncrementalReader, Read


@dataclass(frozen=True, slots=True)
class Inspection:
    """One look at the live schema: its fingerprint and how to render its types."""

    fingerprint: str
    table_count: int
    snapshot: dict[str, Any]
    # the built-in generator, run only when needed: ``render()`` is TypeScript,
    # ``render(language)`` any of ``languages.LANGUAGES``
    render: Callable[..., str]
    # how it was read: "full", "partial" (only changed relations and their dependents),
    # "cached" (the reader found no catalog change); the sync node's probe reuse is "memo"
    read_kind: str = "full"


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
    from ctas7_panel.schema.languages import needs_type_list
    from ctas7_panel.schema.options import TypegenOptions
    from ctas7_panel.schema.snapshot import fingerprint, to_snapshot

    opts = TypegenOptions() if options is None else options
    catalog = introspect(conn, opts, type_list=any(needs_type_list(lang) for lang in languages))
    snapshot = to_snapshot(catalog)
    return _inspection(catalog, snapshot, fingerprint(snapshot), opts, "full")


class IncrementalInspector:
    """An ``Inspector`` that reads incrementally across calls (one database at a time).

    The first call (and any after ``forget()``, another ``options``, or a failed read) reads the
    whole catalog; later ones re-read only what the catalog's per-relation versions say moved
    (``introspect_incremental``), falling back to a full read where that reader does (types,
    functions, schemas, renames, ...). ``languages`` as for ``builtin_inspector``: Python, Go
    and Swift need the type list, which is then read with every read that is not cached.
    ``counts`` says how many reads of each kind were done ("full", "partial", "cached").
    Each call first asks the catalog's versions (one query, as cheap as the sync node's catalog
    probe), so the node does not probe before calling it (``checks_catalog_versions``).
    """

    checks_catalog_versions = True

    def __init__(self, *, languages: tuple[str, ...] = ("typescript",)) -> None:
        from ctas7_panel.schema.languages import needs_type_list

        self.languages = languages
        self.type_list = any(needs_type_list(lang) for lang in languages)
        self.counts: dict[str, int] = {"full": 0, "partial": 0, "cached": 0}
        self.last_reason = ""  # why the last full read was needed (the reader's words)
        self._reader: IncrementalReader | None = None
        self._last: tuple[Read, Inspection] | None = None

    def forget(self) -> None:
        """Read from scratch next time (e.g. after a reconnect: maybe another server)."""
        self._reader = None
        self._last = None

    def __call__(self, conn: psycopg.Connection[Any], options: Any) -> Inspection:
        from ctas7_panel.schema.introspect_incremental import IncrementalReader
        from ctas7_panel.schema.options import TypegenOptions

        opts = TypegenOptions() if options is None else options
        reader = self._reader
        if reader is None or reader.options != opts:
            reader = self._reader = IncrementalReader(opts, type_list=self.type_list)
            self._last = None
        try:
            read = reader.read(conn)
        except BaseException:
            self._last = None  # the reader forgot its state too
            raise
        self.counts[read.kind] = self.counts.get(read.kind, 0) + 1
        self.last_reason = reader.last_reason
        last = self._last
        if last is not None and last[0].canonical is read.canonical:
            seen = last[1]  # the reader's cached result: the same Inspection
            return Inspection(
                seen.fingerprint, seen.table_count, seen.snapshot, seen.render, read.kind
            )
        seen = _inspection(read.catalog, read.snapshot, read.fingerprint, opts, read.kind)
        self._last = (read, seen)
        return seen


def _inspection(
    catalog: Any, snapshot: dict[str, Any], fingerprint: str, options: Any, kind: str
) -> Inspection:
    from ctas7_panel.schema.languages import generate

    def render(language: str = "typescript") -> str:
        return generate(language, catalog, options)

    return Inspection(
        fingerprint=fingerprint,
        table_count=sum(1 for rel in catalog.relations if rel.is_table),
        snapshot=snapshot,
        render=render,
        read_kind=kind,
    )


def builtin_differ(old: dict[str, Any], new: dict[str, Any]) -> DiffSummary:
    from ctas7_panel.schema.diff import diff_snapshots

    diff = diff_snapshots(old, new)
    return DiffSummary(summary=diff.summary(), changes=diff.to_dict(), empty=diff.is_empty)
