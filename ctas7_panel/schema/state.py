"""``inspect_database``: one connection, everything the sync node and the audit need."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ctas7_panel import pgtools
from ctas7_panel.schema.introspect import introspect
from ctas7_panel.schema.model import Catalog
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.snapshot import Snapshot, fingerprint, to_snapshot, types_hash
from ctas7_panel.schema.typegen import generate_typescript


@dataclass(frozen=True, slots=True)
class SchemaState:
    """A database's schema at one moment: model, snapshot, fingerprint and generated types.

    ``durations`` holds seconds spent in ``connect``, ``introspect``, ``snapshot`` (snapshot and
    fingerprint) and ``typegen``.
    """

    catalog: Catalog
    snapshot: Snapshot
    fingerprint: str
    types: str
    types_hash: str
    table_count: int
    server_version: int
    durations: dict[str, float] = field(default_factory=dict)


def state_from_catalog(
    catalog: Catalog, options: TypegenOptions, **durations: float
) -> SchemaState:
    """Snapshot, fingerprint and types of an already read ``catalog``."""
    started = time.perf_counter()
    snapshot = to_snapshot(catalog)
    print_ = fingerprint(snapshot)
    snapshot_done = time.perf_counter()
    types = generate_typescript(catalog, options)
    typegen_done = time.perf_counter()
    timings = dict(durations)
    timings["snapshot"] = snapshot_done - started
    timings["typegen"] = typegen_done - snapshot_done
    return SchemaState(
        catalog=catalog,
        snapshot=snapshot,
        fingerprint=print_,
        types=types,
        types_hash=types_hash(types),
        table_count=int(snapshot["table_count"]),
        server_version=catalog.server_version,
        durations=timings,
    )


def inspect_database(url: str, options: TypegenOptions | None = None) -> SchemaState:
    """Connect to ``url`` once and return its ``SchemaState``.

    Raises ``UsageError`` for a malformed URL, ``DatabaseError`` when the server cannot be
    reached, ``SchemaError`` when the catalog cannot be read.
    """
    options = options or TypegenOptions()
    started = time.perf_counter()
    conn: Any = pgtools.connect(url)
    connected = time.perf_counter()
    try:
        catalog = introspect(conn, options)
    finally:
        conn.close()
    introspected = time.perf_counter()
    return state_from_catalog(
        catalog, options, connect=connected - started, introspect=introspected - connected
    )
