"""``ctas7 audit`` and ``ctas7 ingest``: the test gate and report ingestion on the command line.

- ``audit``: compare the live schema with the hash cache and the types file, regenerate them when
  they differ, write ``schema_audit_report.md`` and emit the audit's events. Exit 0 VERIFIED or
  REGENERATED, 1 FAILED (database unreachable, generation failed), 2 usage error. Made for
  ``"pretest": "ctas7 audit"`` in package.json and Playwright setup projects.
- ``ingest FILE``: a Playwright JSON report or JUnit XML becomes ``playwright_test_started`` /
  ``playwright_test_completed`` events (store, plus the Redis bus or the bridge). Exit 0 when
  the events are stored, 1 when they could not be, 2 for an unreadable or unknown file.

Events always go to the event store (``CTAS7_STORE_URL``) and, with ``CTAS7_BUS_URL=redis://``,
to the bus; with the in-memory bus to the bridge's ingress (``--bridge-url``, else
``CTAS7_BRIDGE_URL``, default the seed's ``ws://127.0.0.1:8002/telemetry_bridge``: the app's,
when it runs in its default place; nobody listening there is not a problem). Delivery problems
are one warning on stderr.
Heavy imports happen inside the handlers.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ctas7_panel.events import Event
    from ctas7_panel.settings import Settings

BRIDGE_ENV = "CTAS7_BRIDGE_URL"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser(
        "audit",
        help="pre-test schema audit: verify or regenerate the types, write the report",
        description="Compare the live schema fingerprint with the hash cache and the types file "
        "with its recorded hash; regenerate them when they differ; write "
        "schema_audit_report.md; emit schema events. Exit 0 VERIFIED or REGENERATED, "
        "1 FAILED, 2 usage error.",
    )
    audit.add_argument(
        "--report", metavar="PATH", default="schema_audit_report.md", help="report file"
    )
    audit.add_argument("--no-report", action="store_true", help="do not write the report")
    audit.add_argument("--db-url", metavar="URL", help="default: CTAS7_DATABASE_URL or embedded")
    audit.add_argument("--schema-path", metavar="FILE", help="types file (CTAS_SCHEMA_PATH)")
    audit.add_argument("--hash-cache", metavar="FILE", help="hash cache (CTAS_HASH_CACHE_PATH)")
    audit.add_argument(
        "--full",
        action="store_true",
        help="always introspect (skip the catalog-probe fast path)",
    )
    audit.add_argument("--json", action="store_true", help="print the result as one JSON line")
    _delivery(audit)
    audit.set_defaults(handler=cmd_audit)

    ingest = sub.add_parser(
        "ingest",
        help="turn a Playwright JSON report, JUnit XML or a reporter's spill file into test events",
        description="Read a Playwright JSON report (--reporter=json) or a JUnit XML file and "
        "send playwright_test_started/completed events for every test, or send the events of "
        "a spill file the ctas7 Playwright reporter wrote while the bridge was down. "
        "Re-ingesting the same file adds nothing (event ids are stable).",
    )
    ingest.add_argument("file", metavar="FILE", help="the report ('-' for stdin)")
    ingest.add_argument(
        "--format",
        choices=("auto", "playwright-json", "junit-xml", "ctas7-events"),
        default="auto",
        help="report format (default: detected)",
    )
    ingest.add_argument(
        "--source-node", metavar="NAME", help="source_node of the events (default: playwright)"
    )
    ingest.add_argument(
        "--print", action="store_true", help="also print the events as JSON lines on stdout"
    )
    _delivery(ingest)
    ingest.set_defaults(handler=cmd_ingest)


def _delivery(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bridge-url",
        metavar="URL",
        help=f"bridge ingress to send events to when the bus is in-memory (default {BRIDGE_ENV})",
    )
    p.add_argument("--no-send", action="store_true", help="emit nothing (no store, bus or bridge)")


def deliver(
    events: Sequence[Event], settings: Settings, bridge_url: str | None, *, timeout: float = 10.0
) -> list[str]:
    """Store and send ``events``; return the delivery problems (empty when all went well)."""
    from ctas7_panel.testing.telemetry import TelemetryConfig, TelemetrySender

    config = TelemetryConfig.from_settings(settings, bridge_url=bridge_url, optional_default=True)
    sender = TelemetrySender(config)
    sender.start()
    for event in events:
        sender.submit(event)
    return sender.close(timeout)


def _warn(problems: list[str]) -> None:
    if problems:
        print(f"ctas7: warning: {'; '.join(problems)}", file=sys.stderr)


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    import orjson

    from ctas7_panel.testing.audit import audit

    report = None if args.no_report else args.report
    result = audit(
        settings,
        db_url=args.db_url,
        report_path=report,
        fast_path=not args.full,
        schema_path=args.schema_path,
        hash_cache_path=args.hash_cache,
    )
    if args.json:
        line = {
            "status": result.status,
            "message": result.message,
            "schema_path": result.schema_path,
            "fingerprint": result.fingerprint,
            "table_count": result.table_count,
            "reason": result.reason,
            "stage": result.stage,
            "duration_ms": result.duration_ms,
            "report": report,
        }
        sys.stdout.write(orjson.dumps(line).decode() + "\n")
    else:
        where = f" (report: {report})" if report else ""
        sys.stdout.write(f"ctas7 audit: {result.one_line()}{where}\n")
        if not result.ok and result.reason:
            print(f"ctas7 audit: {result.reason}", file=sys.stderr)
    sys.stdout.flush()
    if not args.no_send:
        _warn(deliver(result.events, settings, args.bridge_url))
    return result.exit_code


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from ctas7_panel.errors import UsageError
    from ctas7_panel.testing.ingest import parse_report, to_events

    try:
        if args.file == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(args.file, "rb") as fh:
                data = fh.read()
    except OSError as exc:
        raise UsageError(f"cannot read report {args.file}: {exc.strerror or exc}") from exc
    try:
        report = parse_report(data, None if args.format == "auto" else args.format)
    except UsageError as exc:
        raise UsageError(f"{args.file}: {exc}") from exc
    source = args.source_node or ("playwright" if report.format == "playwright-json" else "junit")
    events = to_events(report, source_node=source, default_start=time.time())
    if args.print:
        for e in events:
            sys.stdout.write(e.to_json().decode() + "\n")
    counts = ", ".join(f"{n} {k}" for k, n in sorted(report.counts.items()))
    print(
        f"ctas7 ingest: {report.tests} tests ({counts or 'none'}) from {args.file} "
        f"[{report.format}]: {len(events)} events",
        file=sys.stderr if args.print else sys.stdout,
    )
    if args.no_send:
        return 0
    problems = deliver(events, settings, args.bridge_url)
    _warn(problems)
    stored = not any(p.startswith("event store") for p in problems)
    return 0 if stored else 1
