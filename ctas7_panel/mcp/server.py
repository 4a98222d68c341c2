"""The MCP server itself: resources, tools, prompts and subscriptions on the official SDK.

``build_server(deps)`` returns an ``MCPServer`` (``mcp.server.mcpserver``) whose answers come from
``ctas7_panel.mcp.tools``. Resources live under ``ctas7://`` (the seed addresses its dashboard
data as ``mcp://telemetry/status`` and ``mcp://telemetry/events``; those are
``ctas7://telemetry/status`` and ``ctas7://telemetry/events`` here). Every resource has a tool too,
since many clients only call tools. Tool answers are compact JSON text plus the same data as
structured content; lists come in pages (``cursor``) within the budget.

Subscriptions: the 2026 protocol's ``subscriptions/listen`` (the SDK's, fed by
``live.CountingBus``) and, for clients of earlier versions, ``resources/subscribe`` /
``resources/unsubscribe`` (registered here on the low-level server, which ``MCPServer`` leaves
out), answered by ``notifications/resources/updated``.

To add a tool, write its function in ``tools.py`` and a typed wrapper in ``_register_tools``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp_types import CallToolResult, EmptyResult, TextContent, ToolAnnotations
from pydantic import Field

from ctas7_panel import __version__
from ctas7_panel.errors import Ctas7Error, UsageError
from ctas7_panel.mcp import tools
from ctas7_panel.mcp.budget import BUDGET, dumps, text_pages
from ctas7_panel.mcp.live import LANGS
from ctas7_panel.mcp.tools import Deps

INSTRUCTIONS = f"""\
CTAS-7: the live schema of a PostgreSQL/Supabase database and the telemetry of its pipeline.
Start with schema_status (current_hash tells whether your types are stale), then list_tables
(compact; page with cursor), describe_table, generate_types (TypeScript, Python, Go or Swift,
byte-identical to `ctas7 schema typegen`), schema_history and schema_diff for what changed and
when, impact for what changing a table, column, type or function would break, and
telemetry_status / query_events / route_metrics / dead_letters / audit for the telemetry.
Subscribe to ctas7://schema/status to be told the moment the schema moves. Every answer is at
most {BUDGET:,} characters of JSON; follow next_cursor for more. No tool runs SQL.
"""

COMMENT = {"python": "#"}  # how a line comment starts in a types file (else //)
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)


# --- output shapes (the structured-output schemas) ------------------------------------------


class StatusOut(TypedDict, total=False):
    current_hash: str
    last_update: float | None
    listeners_count: int
    is_watching: bool
    table_count: int
    types_hash: str


class PageOut(TypedDict, total=False):
    total: int
    offset: int
    next_cursor: str | None


class TablesOut(PageOut, total=False):
    hash: str
    tables: list[dict[str, Any]]


class TableOut(PageOut, total=False):
    hash: str
    schema: str
    name: str
    kind: str
    columns: list[dict[str, Any]]
    constraints: list[dict[str, Any]]
    indexes: list[dict[str, Any]]
    relationships: dict[str, Any]


class TypesOut(TypedDict):
    lang: str
    hash: str
    sha256: str
    total_chars: int
    page: int
    pages: int
    deviations_total: int
    deviations: Any
    text: str
    next_cursor: str | None


class ImpactOut(PageOut, total=False):
    target: str
    fingerprint: str | None
    max_hops: int
    capped: bool
    dependents_total: int
    breaking_total: int
    counts: dict[str, int]
    targets: Any
    dependents: list[dict[str, Any]]


class DiffOut(PageOut, total=False):
    old: str
    new: str
    source: str
    summary: Any
    entries: list[dict[str, Any]]


class VersionsOut(TypedDict, total=False):
    versions: list[dict[str, Any]]
    next_cursor: str | None


class EventsOut(TypedDict, total=False):
    events: list[dict[str, Any]]
    next_cursor: str | None


class TelemetryOut(TypedDict, total=False):
    success_rate: float | None
    targets: dict[str, Any]
    dead_letters_pending: int | None
    events_stored: int | None
    store: dict[str, Any]


class MetricsOut(PageOut, total=False):
    success_rate: float | None
    routes: list[dict[str, Any]]


class DeadLettersOut(PageOut, total=False):
    dead_letters: list[dict[str, Any]]


class AuditOut(TypedDict, total=False):
    live: dict[str, Any]
    last_audit: dict[str, Any] | None
    report: str | None


class ReplayOut(TypedDict):
    replayed: int
    ids: list[int] | None


# --- glue -----------------------------------------------------------------------------------


async def _run(fn: Callable[..., dict[str, Any]], deps: Deps, **kwargs: Any) -> dict[str, Any]:
    try:
        return await asyncio.to_thread(fn, deps, **kwargs)
    except Ctas7Error as exc:
        raise ToolError(str(exc)) from exc


def _result(answer: dict[str, Any]) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=dumps(answer))], structured_content=answer
    )


async def _resource(fn: Callable[..., dict[str, Any]], deps: Deps, **kwargs: Any) -> str:
    try:
        return dumps(await asyncio.to_thread(fn, deps, **kwargs))
    except UsageError as exc:
        raise ResourceNotFoundError(str(exc)) from exc
    except Ctas7Error as exc:
        raise ResourceError(str(exc)) from exc


Cursor = Annotated[
    str | None, Field(description="next_cursor of the previous page; leave out for the first")
]


def build_server(deps: Deps) -> MCPServer[Any]:
    """The assembled server (not yet serving: see ``ctas7_panel.mcp.runners``)."""
    server: MCPServer[Any] = MCPServer(
        "ctas7",
        title="CTAS-7 schema and telemetry",
        instructions=INSTRUCTIONS,
        version=__version__,
        subscriptions=deps.live.notifier.bus,
        log_level=deps.settings.log_level,  # type: ignore[arg-type]
    )
    _register_tools(server, deps)
    _register_resources(server, deps)
    _register_prompts(server, deps)
    _register_legacy_subscriptions(server, deps)
    return server


def _register_tools(server: MCPServer[Any], deps: Deps) -> None:
    @server.tool(annotations=READ_ONLY)
    async def schema_status() -> Annotated[CallToolResult, StatusOut]:
        """The schema now: current_hash (SHA-256 fingerprint; compare with your types' hash),
        last_update, listeners_count, is_watching, table and view counts."""
        return _result(await _run(tools.schema_status, deps))

    @server.tool(annotations=READ_ONLY)
    async def list_tables(
        schema: Annotated[str | None, Field(description="only this schema (e.g. public)")] = None,
        match: Annotated[
            str | None, Field(description="name filter: substring, or a glob with * and ?")
        ] = None,
        columns: Annotated[bool, Field(description="list each table's columns too")] = False,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, TablesOut]:
        """Tables and views: schema, name, kind, column count (compact); paged."""
        return _result(
            await _run(
                tools.list_tables, deps, schema=schema, match=match, columns=columns, cursor=cursor
            )
        )

    @server.tool(annotations=READ_ONLY)
    async def describe_table(
        schema: Annotated[str, Field(description="schema name, e.g. public")],
        name: Annotated[str, Field(description="table or view name")],
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, TableOut]:
        """One table or view: columns with types, nullability and defaults; constraints,
        indexes, foreign keys in and out; comment."""
        return _result(
            await _run(tools.describe_table, deps, schema=schema, name=name, cursor=cursor)
        )

    @server.tool(annotations=READ_ONLY)
    async def generate_types(
        lang: Annotated[str, Field(description=f"one of: {', '.join(LANGS)}")] = "typescript",
        schemas: Annotated[
            list[str] | None,
            Field(description="schemas to include (default public, graphql_public)"),
        ] = None,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, TypesOut]:
        """The generated types file in any language `supabase gen types --lang` speaks
        (TypeScript, Python, Go, Swift), byte-identical to `ctas7 schema typegen --lang`, in
        pages whose text concatenates to the file; sha256 is the whole file's; deviations: where
        it differs from Supabase's on purpose (Supabase's would crash or not compile there)."""
        return _result(
            await _run(tools.generate_types, deps, lang=lang, schemas=schemas, cursor=cursor)
        )

    @server.tool(annotations=READ_ONLY)
    async def impact(
        target: Annotated[
            str,
            Field(
                description="[schema.]table[.column], [schema.]type or [schema.]function[(args)],"
                " e.g. public.tasks.status"
            ),
        ],
        max_hops: Annotated[int, Field(description="stop after this many hops, 1-32")] = 32,
        breaking_only: Annotated[
            bool, Field(description="list only what would break (counts cover all)")
        ] = False,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, ImpactOut]:
        """What dropping or changing a table, column, type or function would break, by hop:
        views, functions, policies, triggers, foreign keys, sequences, Legion tasks and types
        files that depend on it; breaking where PostgreSQL would need CASCADE or a query would
        fail (`ctas7 schema impact`)."""
        return _result(
            await _run(
                tools.impact,
                deps,
                target=target,
                max_hops=max_hops,
                breaking_only=breaking_only,
                cursor=cursor,
            )
        )

    @server.tool(annotations=READ_ONLY)
    async def schema_diff(
        old: Annotated[
            str | None,
            Field(
                description="'current', a version hash (7+ hex) or a snapshot file; "
                "default: the version before the newest change"
            ),
        ] = None,
        new: Annotated[str | None, Field(description="same forms; default 'current'")] = None,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, DiffOut]:
        """What changed between two schema versions: tables, columns, types, constraints,
        indexes, enums, functions, relationships (added / removed / changed)."""
        return _result(await _run(tools.schema_diff, deps, old=old, new=new, cursor=cursor))

    @server.tool(annotations=READ_ONLY)
    async def schema_history(
        limit: Annotated[int, Field(description="versions per page, 1-200")] = 20,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, VersionsOut]:
        """Schema versions recorded by the sync node (hash, previous hash, when, what changed),
        newest first."""
        return _result(await _run(tools.schema_history, deps, limit=limit, cursor=cursor))

    @server.tool(annotations=READ_ONLY)
    async def query_events(
        types: Annotated[
            list[str] | None, Field(description="event types, e.g. ['schema_updated']")
        ] = None,
        sources: Annotated[list[str] | None, Field(description="source nodes")] = None,
        since: Annotated[float | None, Field(description="unix time (s), inclusive")] = None,
        limit: Annotated[int, Field(description="events per page, 1-200")] = 50,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, EventsOut]:
        """Stored telemetry events, newest first (payloads over 4,000 characters truncated)."""
        return _result(
            await _run(
                tools.query_events,
                deps,
                types=types,
                sources=sources,
                since=since,
                limit=limit,
                cursor=cursor,
            )
        )

    @server.tool(annotations=READ_ONLY)
    async def telemetry_status() -> Annotated[CallToolResult, TelemetryOut]:
        """Bridge and target health: success rate, deliveries, dead letters pending, events
        stored, component status."""
        return _result(await _run(tools.telemetry_status, deps))

    @server.tool(annotations=READ_ONLY)
    async def route_metrics(cursor: Cursor = None) -> Annotated[CallToolResult, MetricsOut]:
        """The bridge's counters, latency quantiles (ms) and success rate per route and target."""
        return _result(await _run(tools.route_metrics, deps, cursor=cursor))

    @server.tool(annotations=READ_ONLY)
    async def dead_letters(
        target: Annotated[str | None, Field(description="only this target")] = None,
        include_replayed: bool = False,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, DeadLettersOut]:
        """Events a target could not take: reason, attempts, first and last failure."""
        return _result(
            await _run(
                tools.dead_letters,
                deps,
                target=target,
                include_replayed=include_replayed,
                cursor=cursor,
            )
        )

    @server.tool(annotations=READ_ONLY)
    async def audit() -> Annotated[CallToolResult, AuditOut]:
        """The pre-test schema audit: the last verdict and report, and whether the types file
        matches the live schema right now (read-only; `ctas7 audit` regenerates)."""
        return _result(await _run(tools.audit, deps))

    if deps.allow_writes:

        @server.tool(
            annotations=ToolAnnotations(
                read_only_hint=False, destructive_hint=False, idempotent_hint=True
            )
        )
        async def replay_dead_letters(
            ctx: Context[Any, Any],
            ids: Annotated[
                list[int] | None, Field(description="dead letter ids; default: all unreplayed")
            ] = None,
        ) -> Annotated[CallToolResult, ReplayOut]:
            """Deliver dead letters to their target again (needs the admin token)."""
            if deps.access.role(ctx.headers) != "admin":
                raise ToolError(
                    "replay_dead_letters needs the admin token: send Authorization: Bearer "
                    "<CTAS7_ADMIN_TOKEN> (stdio: start the server with CTAS7_ADMIN_TOKEN set)"
                )
            try:
                return _result(await tools.replay_dead_letters(deps, ids=ids))
            except Ctas7Error as exc:
                raise ToolError(str(exc)) from exc


def _register_resources(server: MCPServer[Any], deps: Deps) -> None:
    json_type = "application/json"

    @server.resource("ctas7://schema/status", mime_type=json_type)
    async def schema_status() -> str:
        """The seed's schema status: current_hash, last_update, listeners_count, is_watching."""
        return await _resource(tools.schema_status, deps)

    @server.resource("ctas7://schema/tables", mime_type=json_type)
    async def tables() -> str:
        """Every table and view, compact; next_cursor pages on (ctas7://schema/tables?cursor=)."""
        return await _resource(tools.list_tables, deps)

    @server.resource("ctas7://schema/tables{?cursor}", mime_type=json_type)
    async def tables_page(cursor: str | None = None) -> str:
        """A further page of ctas7://schema/tables."""
        return await _resource(tools.list_tables, deps, cursor=cursor)

    @server.resource("ctas7://schema/tables/{schema}/{name}{?cursor}", mime_type=json_type)
    async def table(schema: str, name: str, cursor: str | None = None) -> str:
        """One table or view, as describe_table gives it."""
        return await _resource(tools.describe_table, deps, schema=schema, name=name, cursor=cursor)

    for lang in LANGS:
        _types_resource(server, deps, lang)

    @server.resource("ctas7://schema/types/{lang}{?cursor}", mime_type="text/plain")
    async def types(lang: str, cursor: str | None = None) -> str:
        """The generated types file of a language (typescript, python, go, swift)."""
        return await _types_page(deps, lang, cursor)

    @server.resource("ctas7://schema/versions", mime_type=json_type)
    async def versions() -> str:
        """Schema versions from the event store, newest first."""
        return await _resource(tools.schema_history, deps)

    @server.resource("ctas7://schema/versions{?cursor}", mime_type=json_type)
    async def versions_page(cursor: str | None = None) -> str:
        """A further page of ctas7://schema/versions."""
        return await _resource(tools.schema_history, deps, cursor=cursor)

    @server.resource("ctas7://schema/diff/{old}/{new}{?cursor}", mime_type=json_type)
    async def diff(old: str, new: str, cursor: str | None = None) -> str:
        """What changed from version old to new (hashes, or 'current')."""
        return await _resource(tools.schema_diff, deps, old=old, new=new, cursor=cursor)

    @server.resource("ctas7://telemetry/status", mime_type=json_type)
    async def telemetry_status() -> str:
        """The seed's mcp://telemetry/status: bridge and target health, success rate."""
        return await _resource(tools.telemetry_status, deps)

    @server.resource("ctas7://telemetry/events", mime_type=json_type)
    async def telemetry_events() -> str:
        """The seed's mcp://telemetry/events: recent events, newest first."""
        return await _resource(tools.query_events, deps)

    @server.resource("ctas7://telemetry/events{?cursor}", mime_type=json_type)
    async def telemetry_events_page(cursor: str | None = None) -> str:
        """A further page of ctas7://telemetry/events."""
        return await _resource(tools.query_events, deps, cursor=cursor)


def _types_resource(server: MCPServer[Any], deps: Deps, lang: str) -> None:
    @server.resource(f"ctas7://schema/types/{lang}", name=f"types_{lang}", mime_type="text/plain")
    async def types_file() -> str:
        """The generated types file, exactly as `ctas7 schema typegen` writes it."""
        return await _types_page(deps, lang, None)


async def _types_page(deps: Deps, lang: str, cursor: str | None) -> str:
    """The whole file when it fits the budget; else one page, headed by a comment line naming
    the next page's URI (the pages without their first lines concatenate to the file)."""
    from ctas7_panel.mcp.budget import check_key, decode_cursor

    try:
        text, fp = await asyncio.to_thread(tools.types_text, deps, lang, None)
        view = f"types:{lang}"
        page = check_key(decode_cursor(cursor, view), fp, "schema")
    except UsageError as exc:
        raise ResourceNotFoundError(str(exc)) from exc
    except Ctas7Error as exc:
        raise ResourceError(str(exc)) from exc
    if len(text) <= deps.budget and page == 0:
        return text
    from ctas7_panel.mcp.budget import Cursor

    slices = text_pages(text, deps.budget - 400)
    if page >= len(slices):
        raise ResourceNotFoundError(f"page {page + 1} is past the last page ({len(slices)})")
    start, end = slices[page]
    nxt = (
        f"next: ctas7://schema/types/{lang}?cursor={Cursor(view, fp, page + 1).encode()}"
        if page + 1 < len(slices)
        else "last page"
    )
    head = (
        f"{COMMENT.get(lang, '//')} ctas7: page {page + 1} of {len(slices)} of the {lang} types "
        f"for schema {fp[:12]} ({len(text)} chars); {nxt}; drop this line when joining pages\n"
    )
    return head + text[start:end]


def _register_prompts(server: MCPServer[Any], deps: Deps) -> None:
    @server.prompt()
    async def explain_schema_change(old: str | None = None, new: str | None = None) -> str:
        """Explain a schema change and what it breaks (defaults: the newest change)."""
        try:
            diff = await asyncio.to_thread(tools.schema_diff, deps, old=old, new=new)
        except Ctas7Error as exc:
            return f"There is no schema change to explain: {exc}."
        return (
            "Here is a structured diff of a PostgreSQL schema (ctas7 schema_diff). Explain in "
            "plain words what changed, then list what it can break: application queries, "
            "generated types (TypeScript Insert/Update/Row, or the Python, Go, Swift models), "
            "RPC calls, views, functions, policies, triggers and foreign keys that depend on "
            "the changed objects. Its 'impact', when present, is what depended on them as the "
            "sync node found it; for any changed table, column, type or function, the impact "
            "tool says what depends on it now (breaking: PostgreSQL would need CASCADE or a "
            "query would fail). Say which code to look at and how to adapt it. If the diff is "
            "paged (next_cursor), fetch the remaining pages with the schema_diff tool first."
            "\n\n" + dumps(diff)
        )

    @server.prompt()
    async def check_types_current() -> str:
        """Are this project's generated types current? What to do if not."""
        try:
            result = await asyncio.to_thread(tools.audit, deps)
        except Ctas7Error as exc:
            return f"The audit cannot run: {exc}."
        return (
            "Below is the CTAS-7 audit of the generated types against the live schema. Say "
            "whether the types are current; if stale, say what changed (use schema_diff) and "
            "the command that regenerates them.\n\n" + dumps(result)
        )


def _register_legacy_subscriptions(server: MCPServer[Any], deps: Deps) -> None:
    """``resources/subscribe`` for clients before the 2026-07-28 protocol (MCPServer leaves it
    to the low-level server)."""
    from mcp_types import SubscribeRequestParams, UnsubscribeRequestParams

    legacy = deps.live.notifier.legacy

    def client(ctx: Any) -> object:
        # ctx.session is a per-request proxy; the connection behind it names the client
        return getattr(ctx.session, "_connection", ctx.session)

    async def subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        legacy.add(str(params.uri), client(ctx), ctx.session)
        return EmptyResult()

    async def unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        legacy.remove(str(params.uri), client(ctx))
        return EmptyResult()

    low = server._lowlevel_server  # no public accessor for these two handlers
    low.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    low.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)


__all__ = ["INSTRUCTIONS", "build_server"]
