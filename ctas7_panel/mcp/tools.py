"""The answers: one function per tool, shared by the tools and the resources.

Each function takes the server's ``Deps`` and typed arguments and returns a JSON-able dict within
``deps.budget`` characters (``ctas7_panel.mcp.budget``); lists come in pages with a
``next_cursor``. They are blocking (database, store, files) and run in a worker thread, except
``replay_dead_letters``. Wrong arguments raise ``UsageError`` with what was wrong and how to fix
it; the server turns it into a tool error (or a resource error), never a crash.

No function here runs SQL of the caller's: the only statements are the project's own catalog
queries, the catalog probe, the dependency facts of the schema graph (``impact``) and the event
store's reads.

To add a tool: write its function here, then a typed wrapper with its description and
annotations (read-only, or a write offered only with ``--allow-writes``) in
``ctas7_panel.mcp.server._register_tools``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctas7_panel.errors import ArtifactError, Ctas7Error, StoreError, UsageError
from ctas7_panel.mcp import views
from ctas7_panel.mcp.budget import BUDGET, check_key, decode_cursor, dumps, fit, shrink, text_pages

if TYPE_CHECKING:
    from ctas7_panel.events import Event
    from ctas7_panel.mcp.access import Access
    from ctas7_panel.mcp.live import Live
    from ctas7_panel.mcp.sources import LiveState, SchemaSource, Telemetry
    from ctas7_panel.schema.typegen_meta import Generated
    from ctas7_panel.settings import Settings

log = logging.getLogger(__name__)

MAX_EVENTS = 200
MAX_FILTERS = 100  # event types or sources in one query
MAX_FILTER_CHARS = 4000  # all of them together (they are echoed in the answer)
MAX_NAME = 200  # characters of a name filter
MAX_IDENT = 63  # bytes of a PostgreSQL name (NAMEDATALEN - 1): no schema or table is longer
MAX_SCHEMAS = 20  # in one generate_types selection
MAX_PATH = 1024  # characters of a snapshot file path given to schema_diff
DEFAULT_EVENTS = 50
MAX_DEVIATIONS = 5  # listed in a generate_types answer, in at most DEVIATIONS_CHARS
DEVIATIONS_CHARS = 2000
TYPES_ENVELOPE = 4000  # room a generate_types page leaves for all but its text
MAX_HOPS = 32  # of an impact walk
CURRENT = "current"


@dataclass
class Deps:
    """What the answers are made of (one per server)."""

    settings: Settings
    schema: SchemaSource | None
    telemetry: Telemetry
    live: Live
    access: Access
    allow_writes: bool = False
    budget: int = BUDGET

    def source(self) -> SchemaSource:
        if self.schema is None:
            raise UsageError(
                "no database to read the schema from: set CTAS7_DATABASE_URL for ctas7 mcp"
            )
        return self.schema

    def state(self, schemas: Sequence[str] | None = None) -> LiveState:
        src = self.source()
        return src.current(src.key_for(schemas))


def _selection(schema: str | None, deps: Deps) -> list[str] | None:
    """A schema outside the default selection is read on its own."""
    if schema is None:
        return None
    default = deps.source().default_key
    if default is None or schema in default:  # None: every schema is read already
        return None
    return [schema]


def _ident(value: str, what: str) -> str:
    """A schema, table or view name as the caller gave it; refused when no PostgreSQL name can
    be that long (it would only flood the answer and the cursor)."""
    if len(value.encode()) > MAX_IDENT:
        raise UsageError(
            f"{what} {value[:40]!r}... is {len(value.encode())} bytes long: PostgreSQL names "
            f"have at most {MAX_IDENT} (see list_tables)"
        )
    return value


def _filters(name: str, values: Sequence[str] | None) -> None:
    if values is None:
        return
    if len(values) > MAX_FILTERS:
        raise UsageError(f"{name} has {len(values)} entries: give at most {MAX_FILTERS}")
    total = sum(len(v) for v in values)
    if total > MAX_FILTER_CHARS:
        raise UsageError(f"{name} has {total} characters in all: give at most {MAX_FILTER_CHARS}")


# --- schema ---------------------------------------------------------------------------------


def schema_status(deps: Deps) -> dict[str, Any]:
    """The seed's status fields (``current_hash``, ``last_update``, ``listeners_count``,
    ``is_watching``) plus table counts."""
    state = deps.state()
    last = _last_schema_update(deps)
    src = deps.source()
    candidates = [t for t in (last, src.last_change) if t is not None]
    from ctas7_panel import pgtools

    return {
        "current_hash": state.fingerprint,
        "last_update": max(candidates) if candidates else None,
        "listeners_count": deps.live.notifier.listeners,
        "is_watching": deps.live.watching,
        "table_count": state.table_count,
        **{k: v for k, v in views.snapshot_counts(state.snapshot).items() if k != "tables"},
        "types_hash": state.types_hash,
        "schemas": list(src.default_key) if src.default_key is not None else "all",
        "database": pgtools.database_name(src.db_url),
        "feed": deps.live.feed,
        "server_version": state.server_version,
        "checked_at": time.time(),
    }


def _last_schema_update(deps: Deps) -> float | None:
    events = _history(deps, "schema_updated", 1)
    return events[0].timestamp if events else None


def _history(deps: Deps, event_type: str, limit: int) -> list[Event]:
    """The newest stored events of ``event_type``, newest first; none when the store cannot
    be read: the answers that only draw on the history (status, diff, audit) still answer
    from the live schema, and ``telemetry_status`` says what is wrong with the store."""
    try:
        return [e for _, e in deps.telemetry.events(types=[event_type], limit=limit)]
    except StoreError as exc:
        log.warning("mcp: answering without the event history: %s", exc)
        return []


def list_tables(
    deps: Deps,
    *,
    schema: str | None = None,
    match: str | None = None,
    columns: bool = False,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Tables and views, compact (name, kind, column count) unless ``columns``; paged."""
    if match is not None and len(match) > MAX_NAME:
        raise UsageError(f"match is {len(match)} characters long: give at most {MAX_NAME}")
    if schema is not None:
        _ident(schema, "schema")
    state = deps.state(_selection(schema, deps))
    rows = views.table_rows(state.snapshot, schema=schema, match=match, columns=columns)
    start = check_key(decode_cursor(cursor, "list_tables"), state.fingerprint, "schema")
    envelope = {"hash": state.fingerprint, "schema": schema, "match": match}
    return fit(
        rows,
        envelope,
        field="tables",
        view="list_tables",
        key=state.fingerprint,
        start=start,
        budget=deps.budget,
    ).answer


def describe_table(
    deps: Deps, *, schema: str, name: str, cursor: str | None = None
) -> dict[str, Any]:
    """One table or view: columns (paged), constraints, indexes, foreign keys in and out."""
    _ident(schema, "schema")
    _ident(name, "name")
    state = deps.state(_selection(schema, deps))
    view = f"describe_table:{schema}.{name}"
    start = check_key(decode_cursor(cursor, view), state.fingerprint, "schema")
    detail = views.table_detail(state.snapshot, schema, name)
    if start:  # later pages: the columns only
        detail = {"schema": schema, "name": name}
    detail = {"hash": state.fingerprint, **shrink(detail, deps.budget // 2)}
    columns = views.column_rows(views.find_relation(state.snapshot, schema, name))
    return fit(
        [shrink(c, deps.budget // 4) for c in columns],
        detail,
        field="columns",
        view=view,
        key=state.fingerprint,
        start=start,
        budget=deps.budget,
    ).answer


def generated(deps: Deps, lang: str, schemas: Sequence[str] | None) -> tuple[Generated, str]:
    """The generated ``lang`` file (with its deviations from Supabase's) and the fingerprint
    of the schema it was made from."""
    from ctas7_panel.mcp.live import LANGS

    if lang not in LANGS:
        raise UsageError(f"no generator for language {lang!r}: use one of {', '.join(LANGS)}")
    if schemas is not None:
        if len(schemas) > MAX_SCHEMAS:
            raise UsageError(f"schemas has {len(schemas)} entries: give at most {MAX_SCHEMAS}")
        for schema in schemas:
            _ident(schema, "schema")
    src = deps.source()
    return src.generated(lang, src.key_for(schemas))


def types_text(deps: Deps, lang: str, schemas: Sequence[str] | None) -> tuple[str, str]:
    """The generated file for ``lang`` and the fingerprint it was made from."""
    made, fp = generated(deps, lang, schemas)
    return made.text, fp


@functools.lru_cache(maxsize=8)
def _paged(text: str, budget: int) -> tuple[tuple[tuple[int, int], ...], str]:
    """The pages of a generated file and its SHA-256, made once per file (the same ``str``
    object comes back for every page of one schema version, so the lookup is by identity)."""
    slices = tuple(text_pages(text, budget, escaped=True))
    return slices, hashlib.sha256(text.encode()).hexdigest()


def generate_types(
    deps: Deps,
    *,
    lang: str = "typescript",
    schemas: Sequence[str] | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The types file exactly as ``ctas7 schema typegen --lang`` writes it, in pages whose
    ``text`` concatenate to the file byte for byte (``sha256`` is the whole file's).
    ``deviations``: where the file differs from Supabase's on purpose (Python, Go: where
    Supabase's would crash or not compile), the first ``MAX_DEVIATIONS``."""
    from ctas7_panel.mcp.budget import Cursor

    made, fp = generated(deps, lang, schemas)
    text = made.text
    selection = ",".join(sorted(set(schemas or [])))
    view = f"generate_types:{lang}:{hashlib.sha256(selection.encode()).hexdigest()[:16]}"
    page = check_key(decode_cursor(cursor, view), fp, "schema")
    slices, sha256 = _paged(text, deps.budget - TYPES_ENVELOPE)
    if page >= len(slices):
        raise UsageError(f"page {page + 1} is past the last page ({len(slices)}): start again")
    start, end = slices[page]
    nxt = Cursor(view, fp, page + 1).encode() if page + 1 < len(slices) else None
    return {
        "lang": lang,
        "schemas": list(schemas) if schemas else None,
        "hash": fp,
        "sha256": sha256,
        "total_chars": len(text),
        "page": page + 1,
        "pages": len(slices),
        "deviations_total": len(made.deviations),
        "deviations": shrink(
            [
                {"what": d.what, "where": d.where, "reference": d.reference, "ours": d.ours}
                for d in made.deviations[:MAX_DEVIATIONS]
            ],
            DEVIATIONS_CHARS,
        ),
        "text": text[start:end],
        "next_cursor": nxt,
    }


def _side(deps: Deps, spec: str, events: list[Any]) -> tuple[str, dict[str, Any]]:
    """(label, snapshot) for ``current``, a version hash (or prefix) or a snapshot file."""
    if len(spec) > MAX_PATH:
        raise UsageError(
            f"version {spec[:40]!r}... is {len(spec)} characters long: give 'current', a hash "
            f"or a snapshot file path of at most {MAX_PATH}"
        )
    src = deps.source()
    if spec == CURRENT:
        state = deps.state()
        return state.fingerprint, state.snapshot
    if views.looks_like_hash(spec):
        known = {*src.archived(), *(e.payload.get("new_hash") or "" for e in events)}
        known |= {e.payload.get("old_hash") or "" for e in events}
        full = views.resolve_prefix(spec, sorted(h for h in known if h))
        if full is None:
            raise UsageError(
                f"no schema version {spec!r} is known: pick one from schema_history, or give "
                "'current' or a snapshot file"
            )
        snap = src.load_archived(full)
        if snap is None:
            return full, {}
        return full, snap
    return spec, _snapshot_file(deps, spec)


def _snapshot_file(deps: Deps, spec: str) -> dict[str, Any]:
    """A snapshot file inside the working directory or ``CTAS7_HOME`` (nowhere else)."""
    from ctas7_panel.schema.snapshot import load_snapshot

    path = Path(spec).expanduser()
    if not path.suffix == ".json":
        raise UsageError(
            f"{spec!r} is neither 'current', a version hash nor a snapshot file (*.json)"
        )
    resolved = path.resolve()
    roots = [Path.cwd().resolve(), Path(deps.settings.home).resolve()]
    if not any(resolved.is_relative_to(root) for root in roots):
        raise UsageError(
            f"snapshot file {spec!r} is outside the working directory and CTAS7_HOME: "
            "copy it there first"
        )
    try:
        return load_snapshot(resolved)  # a bare snapshot or the sync node's record
    except ArtifactError as exc:
        raise UsageError(str(exc)) from exc


def schema_diff(
    deps: Deps,
    *,
    old: str | None = None,
    new: str | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    """What changed between two schema versions (hashes, snapshot files or ``current``).

    Defaults: ``new`` = current, ``old`` = the version before the newest change."""
    from ctas7_panel.schema.diff import diff_snapshots

    events = _history(deps, "schema_updated", 200)
    new = new or CURRENT
    if old is None:
        old = _previous_version(deps, events)
    old_label, old_snap = _side(deps, old, events)
    new_label, new_snap = _side(deps, new, events)
    if old_snap and new_snap:
        result = diff_snapshots(old_snap, new_snap).to_dict()
        source = "snapshots"
    else:
        recorded = views.stored_diff(events, old_label, new_label)
        if recorded is None:
            missing = old_label if not old_snap else new_label
            raise UsageError(
                f"no snapshot of version {missing[:12]} is kept and no recorded change goes "
                f"from {old_label[:12]} to {new_label[:12]}: compare versions this server has "
                "seen (schema_history), or give snapshot files"
            )
        result = recorded
        source = "recorded change"
    key = hashlib.sha256(f"{old_label}:{new_label}".encode()).hexdigest()[:32]  # short cursor
    start = check_key(decode_cursor(cursor, "schema_diff"), key, "the compared versions")
    entries = [shrink(e, deps.budget // 4) for e in result.get("entries", [])]
    envelope = {
        "old": old_label,
        "new": new_label,
        "source": source,
        "summary": shrink(result.get("summary"), deps.budget // 4),
    }
    recorded = views.recorded_impact(events, old_label, new_label)
    if recorded is not None:  # what depended on what changed, as the sync node found it
        envelope["impact"] = shrink(recorded, deps.budget // 5)
    return fit(
        entries,
        envelope,
        field="entries",
        view="schema_diff",
        key=key,
        start=start,
        budget=deps.budget,
    ).answer


def _previous_version(deps: Deps, events: list[Any]) -> str:
    """The version before the newest change: recorded by the sync node, or seen by this server
    (whichever change is newer)."""
    src = deps.source()
    recorded = events[0] if events and events[0].payload.get("old_hash") else None
    seen = src.previous if src.last_change is not None else None
    if seen is not None and (recorded is None or (src.last_change or 0) > recorded.timestamp):
        return seen
    if recorded is not None:
        return str(recorded.payload["old_hash"])
    raise UsageError(
        "no earlier schema version is recorded: give old= (a hash from schema_history or a "
        "snapshot file)"
    )


def schema_history(deps: Deps, *, limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
    """The schema versions the event store recorded (``schema_updated``), newest first."""
    limit = _limit(limit, 200, "limit")
    before = _seq_cursor(cursor, "schema_history")
    rows = deps.telemetry.events(types=["schema_updated"], before_seq=before, limit=limit + 1)
    more = len(rows) > limit
    items = [views.version_row(seq, e) for seq, e in rows[:limit]]
    return _seq_page(deps, items, {}, "versions", "schema_history", more)


def impact(
    deps: Deps,
    *,
    target: str,
    max_hops: int = MAX_HOPS,
    breaking_only: bool = False,
    cursor: str | None = None,
) -> dict[str, Any]:
    """What dropping or changing ``target`` would break (``ctas7 schema impact``): the views,
    functions, policies, triggers, foreign keys, sequences, Legion tasks and types files that
    depend on it, by hop, ``breaking`` where PostgreSQL would need CASCADE or a query would
    fail. The dependents come in pages; counts per kind cover all of them."""
    from ctas7_panel.graph import impact as im
    from ctas7_panel.graph.live import GraphInputs

    if len(target) > MAX_NAME:
        raise UsageError(f"target is {len(target)} characters long: give at most {MAX_NAME}")
    max_hops = _limit(max_hops, MAX_HOPS, "max_hops")
    src = deps.source()
    inputs = GraphInputs.from_settings(deps.settings, options=src.options)
    graph, state = src.graph(inputs)
    result = im.to_dict(im.impact_of(graph, target, max_hops=max_hops))
    dependents = result.pop("dependents")
    counts: dict[str, int] = {}
    for d in dependents:
        counts[d["kind"]] = counts.get(d["kind"], 0) + 1
    if breaking_only:
        dependents = [d for d in dependents if d["breaking"]]
    for d in dependents:
        d.pop("id", None)  # the display name says the same, in fewer characters
        d["via"] = d["via"][: im.VIA_SHOWN]
    changes = [{k: c[k] for k in ("kind", "name", "change")} for c in result.pop("changes")]
    query = f"{state.fingerprint}:{target}:{max_hops}:{breaking_only}"
    key = hashlib.sha256(query.encode()).hexdigest()[:32]  # the cursor stays short
    start = check_key(decode_cursor(cursor, "impact"), key, "the impact query")
    totals = {"dependents_total": result.pop("total"), "breaking_total": result.pop("breaking")}
    envelope = {
        **result,
        **totals,
        "counts": dict(sorted(counts.items())),
        "targets": shrink(changes, deps.budget // 8),
        "breaking_only": breaking_only,
    }
    return fit(
        [shrink(d, deps.budget // 8) for d in dependents],
        envelope,
        field="dependents",
        view="impact",
        key=key,
        start=start,
        budget=deps.budget,
    ).answer


# --- telemetry ------------------------------------------------------------------------------


def query_events(
    deps: Deps,
    *,
    types: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    since: float | None = None,
    limit: int = DEFAULT_EVENTS,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Stored events, newest first; payloads over 4,000 characters come truncated."""
    limit = _limit(limit, MAX_EVENTS, "limit")
    _filters("types", types)
    _filters("sources", sources)
    if since is not None and not 0 <= since < 1e11:
        raise UsageError(f"since={since} is not a unix time: give seconds since 1970, e.g. 1.7e9")
    before = _seq_cursor(cursor, "query_events")
    rows = deps.telemetry.events(
        types=types, sources=sources, since=since, before_seq=before, limit=limit + 1
    )
    more = len(rows) > limit
    items = [views.event_row(seq, e, shrink(e.payload)) for seq, e in rows[:limit]]
    envelope = {"types": list(types) if types else None, "sources": list(sources or []) or None}
    return _seq_page(deps, items, envelope, "events", "query_events", more)


def _limit(value: int, most: int, name: str) -> int:
    if value < 1 or value > most:
        raise UsageError(f"{name}={value} is out of range: give 1 to {most}")
    return value


def _seq_cursor(cursor: str | None, view: str) -> int | None:
    c = decode_cursor(cursor, view)
    return None if c is None else c.offset


def _seq_page(
    deps: Deps,
    items: list[dict[str, Any]],
    envelope: dict[str, Any],
    field: str,
    view: str,
    more: bool,
) -> dict[str, Any]:
    """A page of newest-first rows whose cursor is the oldest returned ``seq`` (stable while
    new rows arrive)."""
    from ctas7_panel.mcp.budget import Cursor

    page = fit(items, envelope, field=field, view=view, key="seq", budget=deps.budget)
    answer = page.answer
    answer.pop("total", None)
    answer.pop("offset", None)
    shown = answer[field]
    if (page.next_offset is not None or more) and shown:
        answer["next_cursor"] = Cursor(view, "seq", int(shown[-1]["seq"])).encode()
    else:
        answer["next_cursor"] = None
    return answer


def telemetry_status(deps: Deps) -> dict[str, Any]:
    """Bridge and target health, success rate, the event store's health and component status
    (``mcp://telemetry/status`` of the seed). A store that cannot be read is reported here
    (``store.up`` false, with the reason), not raised: this is where an agent looks for it."""
    t = deps.telemetry
    store: dict[str, Any] = {"kind": t.store_kind, "readable": True}
    answer: dict[str, Any] = {"mode": t.mode}
    try:
        metrics = t.bridge_metrics()
        newest = t.events(limit=1)
        pending = len(t.dead_letters())
        stored = t.count()
    except Ctas7Error as exc:  # StoreError, or the live metrics of a stopping runtime
        metrics, newest, pending, stored = {}, [], None, None
        store.update(readable=False, error=str(exc)[:500])
    writer = t.writer_health()
    store["writer"] = writer
    if writer is None:
        store["writer_note"] = (
            "no store writer in this process: the bridge writes the store (its GET /healthz "
            "says degraded while the store is down)"
        )
    store["up"] = store["readable"] and (writer is None or bool(writer.get("up")))
    targets = metrics.get("targets") or {}
    answer.update(
        {
            "success_rate": metrics.get("success_rate"),
            "delivered": metrics.get("delivered"),
            "dead_lettered": metrics.get("dead_lettered"),
            "targets": {
                name: {
                    k: v.get(k) for k in ("delivered", "dead_lettered", "success_rate", "p95_ms")
                }
                for name, v in targets.items()
            },
            "metrics_source": metrics.get("source"),
            "dead_letters_pending": pending,
            "events_stored": stored,
            "last_event_at": newest[0][1].timestamp if newest else None,
            "store": store,
            "schema_feed": {"kind": deps.live.feed, "watching": deps.live.watching},
        }
    )
    if t.components is not None:
        answer["components"] = t.components()
    if "workers" in metrics:
        answer["workers"] = {
            w: {k: v.get(k) for k in ("age_s", "delivered", "dead_lettered", "success_rate")}
            for w, v in metrics["workers"].items()
        }
    shrunk: dict[str, Any] = shrink(answer, deps.budget)
    return shrunk


def route_metrics(deps: Deps, *, cursor: str | None = None) -> dict[str, Any]:
    """Counters, p50/p95/p99 and success rate per route and target (paged routes)."""
    metrics = deps.telemetry.bridge_metrics()
    routes = metrics.pop("routes", [])
    if "workers" in metrics:
        metrics["workers"] = {w: shrink(v, 2000) for w, v in metrics["workers"].items()}
    start = check_key(decode_cursor(cursor, "route_metrics"), "routes", "metrics")
    envelope = shrink(metrics, deps.budget // 2)
    return fit(
        routes,
        envelope if isinstance(envelope, dict) else {"metrics": envelope},
        field="routes",
        view="route_metrics",
        key="routes",
        start=start,
        budget=deps.budget,
    ).answer


def dead_letters(
    deps: Deps,
    *,
    target: str | None = None,
    include_replayed: bool = False,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Events a target could not take: target, reason, attempts, first/last failure (paged)."""
    if target is not None and len(target) > MAX_NAME:
        raise UsageError(f"target is {len(target)} characters long: give at most {MAX_NAME}")
    letters = deps.telemetry.dead_letters(target=target, include_replayed=include_replayed)
    items = [
        {
            "id": dl.id,
            "target": dl.target,
            "event_id": dl.event.event_id,
            "event_type": dl.event.event_type,
            "attempts": dl.attempts,
            "reason": dl.reason[:500],
            "first_failure": dl.first_failure,
            "last_failure": dl.last_failure,
            "replayed_at": dl.replayed_at,
            "payload": shrink(dl.event.payload, 1500),
        }
        for dl in letters
    ]
    start = check_key(decode_cursor(cursor, "dead_letters"), "ids", "dead letters")
    envelope = {"target": target, "replay": "replay_dead_letters" if deps.allow_writes else None}
    return fit(
        items,
        envelope,
        field="dead_letters",
        view="dead_letters",
        key="ids",
        start=start,
        budget=deps.budget,
    ).answer


def audit(deps: Deps) -> dict[str, Any]:
    """The last pre-test audit (verdict and report) and a read-only check of the types files
    (``CTAS7_TYPES``, else ``CTAS_SCHEMA_PATH``; any language) against the live schema now
    (``current``/``stale``; ``ctas7 audit`` regenerates)."""
    from ctas7_panel.schema import artifacts

    s = deps.settings
    audits = _history(deps, "schema_audit", 1)
    last: dict[str, Any] | None = None
    report: str | None = None
    if audits:
        event = audits[0]
        last = {"at": event.timestamp, **shrink(event.payload, 3000)}
        report = _read_report(deps, event.payload.get("report_path"))
    state = deps.state()
    cached = artifacts.read_hash_cache(s.hash_cache_path)
    problems = []
    if cached.value != state.fingerprint:
        problems.append(
            f"hash cache {s.hash_cache_path} is {cached.value or cached.problem}, "
            f"the live schema is {state.fingerprint[:12]}"
        )
    files = []
    for lang, path in s.types or (("typescript", s.schema_path),):
        if lang == "typescript" and s.typegen_command:
            expected = _record_types_hash(s)  # the external generator's, as last recorded
        else:
            made, _ = generated(deps, lang, None)
            expected = hashlib.sha256(made.text.encode()).hexdigest()
        actual = artifacts.file_sha256(path)
        if actual is None:
            problems.append(f"{lang} types file {path} is missing")
        elif expected is not None and actual != expected:
            problems.append(f"{lang} types file {path} differs from what the live schema generates")
        current = None if expected is None else actual == expected  # None: unknown
        files.append({"lang": lang, "path": path, "current": current})
    live = {
        "verdict": "stale" if problems else "current",
        "problems": shrink(problems, 4000),
        "fingerprint": state.fingerprint,
        "hash_cache": cached.value,
        "schema_path": files[0]["path"],
        "types_files": shrink(files, 4000),
        "fix": "run `ctas7 audit` (or `ctas7 schema sync`) to regenerate" if problems else None,
    }
    answer: dict[str, Any] = {"live": live, "last_audit": last, "report": None}
    room = deps.budget - len(dumps(answer)) - 200
    if report is not None:
        answer["report"] = report if len(report) <= room else report[: max(0, room)] + "\n..."
    return answer


def _record_types_hash(settings: Settings) -> str | None:
    from ctas7_panel.schema.artifacts import default_snapshot_path
    from ctas7_panel.schema.snapshot_file import read_snapshot_file

    try:
        loaded = read_snapshot_file(default_snapshot_path(settings.hash_cache_path))
    except ArtifactError:
        return None
    return loaded.record.types_hash if loaded.record is not None else None


def _read_report(deps: Deps, path: Any) -> str | None:
    """The audit's markdown report, if it is a ``.md`` file in the working directory or home."""
    if not isinstance(path, str) or not path.endswith(".md"):
        return None
    resolved = Path(path).expanduser().resolve()
    roots = [Path.cwd().resolve(), Path(deps.settings.home).resolve()]
    if not any(resolved.is_relative_to(root) for root in roots):
        return None
    try:
        return resolved.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


async def replay_dead_letters(deps: Deps, *, ids: Sequence[int] | None = None) -> dict[str, Any]:
    """Deliver dead letters again (all unreplayed ones, or ``ids``); admin only."""
    if deps.telemetry.replay is None:
        raise UsageError("this server cannot replay dead letters (no bridge to deliver through)")
    if ids is not None and not ids:
        raise UsageError("ids is empty: give the ids to replay (see dead_letters) or leave it out")
    replayed = await deps.telemetry.replay(ids)
    return {"replayed": replayed, "ids": list(ids) if ids is not None else None}


__all__ = [
    "Deps",
    "audit",
    "dead_letters",
    "describe_table",
    "generate_types",
    "generated",
    "impact",
    "list_tables",
    "query_events",
    "replay_dead_letters",
    "route_metrics",
    "schema_diff",
    "schema_history",
    "schema_status",
    "telemetry_status",
]
