"""``ctas7 emit`` and ``ctas7 events tail|export``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctas7_panel.cli import needs_subcommand
from ctas7_panel.errors import UsageError

if TYPE_CHECKING:
    from ctas7_panel.events import Event
    from ctas7_panel.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    emit = sub.add_parser(
        "emit",
        help="validate an event (JSON) and publish it to the configured bus and store",
        description="Read one event (or JSON lines) from FILE or - (stdin), validate it, append "
        "it to the event store and publish it on the bus. Missing event_id, timestamp and "
        "source_node are filled in.",
    )
    emit.add_argument("file", metavar="FILE|-")
    emit.set_defaults(handler=cmd_emit)

    events = sub.add_parser("events", help="read the event history")
    needs_subcommand(events)
    esub = events.add_subparsers(dest="events_command", metavar="SUBCOMMAND")
    tail = esub.add_parser("tail", help="print stored events as JSON lines, then follow new ones")
    tail.add_argument(
        "--type",
        action="append",
        dest="types",
        metavar="T",
        help="only this event type (repeatable)",
    )
    tail.add_argument("--source", action="append", dest="sources", metavar="S")
    tail.add_argument("-n", "--lines", type=int, default=20, help="how many past events (20)")
    tail.add_argument("--no-follow", action="store_true", help="print and exit")
    tail.add_argument("--interval", type=float, default=0.5, help=argparse.SUPPRESS)
    tail.set_defaults(handler=cmd_tail)

    export = esub.add_parser("export", help="write the history to a file")
    export.add_argument("--format", choices=("csv", "jsonl", "parquet"), required=True)
    export.add_argument("-o", "--output", required=True, type=Path)
    export.add_argument("--type", action="append", dest="types", metavar="T")
    export.add_argument("--since", type=float, help="unix seconds")
    export.add_argument("--until", type=float, help="unix seconds")
    export.set_defaults(handler=cmd_export)


def _read_input(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from exc


def parse_input(data: bytes, max_bytes: int) -> list[Event]:
    """One JSON event, or JSON lines; each validated (missing id/time/source filled in)."""
    from ctas7_panel.events import Event

    text = data.strip()
    if not text:
        raise UsageError("no event given: pass a JSON object on stdin or in FILE")
    if len(data) > max_bytes and b"\n" not in text:
        # one oversize document: let the parser name the limit
        return [
            Event.from_json(text, max_bytes=max_bytes, fill_defaults=True, default_source="cli")
        ]
    try:
        return [
            Event.from_json(text, max_bytes=max_bytes, fill_defaults=True, default_source="cli")
        ]
    except Exception:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) <= 1:
            raise
    return [
        Event.from_json(line, max_bytes=max_bytes, fill_defaults=True, default_source="cli")
        for line in lines
    ]


def cmd_emit(args: argparse.Namespace, settings: Settings) -> int:
    events = parse_input(_read_input(args.file), settings.max_event_bytes)
    asyncio.run(_publish(events, settings))
    for e in events:
        print(e.event_id)
    return 0


async def _publish(events: list[Event], settings: Settings) -> None:
    from ctas7_panel.store import open_store
    from ctas7_panel.streams import open_bus

    store = open_store(settings.store_url)
    try:
        store.append(events)
        if not settings.bus_url.startswith("memory"):
            async with open_bus(settings.bus_url) as bus:
                for e in events:
                    await bus.publish(e)
    finally:
        store.close()


def cmd_tail(args: argparse.Namespace, settings: Settings) -> int:
    from ctas7_panel.store import open_store

    store = open_store(settings.store_url)
    out = sys.stdout
    try:
        last_seq = None
        rows = store.fetch(types=args.types, sources=args.sources, limit=max(0, args.lines))
        while True:
            for seq, event in rows:
                out.write(event.to_json().decode() + "\n")
                last_seq = seq
            out.flush()
            if args.no_follow:
                return 0
            time.sleep(args.interval)
            if last_seq is None:
                tip = store.fetch(limit=1)
                last_seq = tip[0][0] if tip else 0
            rows = store.fetch(types=args.types, sources=args.sources, after_seq=last_seq)
    finally:
        store.close()


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    import orjson

    from ctas7_panel.atomic import replacing
    from ctas7_panel.store import open_store

    store = open_store(settings.store_url)
    try:
        df = store.load_events(since=args.since, until=args.until, types=args.types)
    finally:
        store.close()
    out: Path = args.output
    with replacing(out) as tmp:
        if args.format == "jsonl":
            with tmp.open("wb") as f:
                for row in df.itertuples(index=False):
                    f.write(orjson.dumps(_row_dict(row)) + b"\n")
        elif args.format == "csv":
            flat = df.assign(
                timestamp=df["timestamp"].map(lambda t: t.isoformat()),
                payload=df["payload"].map(lambda p: orjson.dumps(p).decode()),
            )
            flat.to_csv(tmp, index=False)
        else:
            try:
                flat = df.assign(payload=df["payload"].map(lambda p: orjson.dumps(p).decode()))
                flat.to_parquet(tmp, index=False)
            except ImportError as exc:
                raise UsageError("parquet export needs pyarrow: pip install pyarrow") from exc
    print(f"wrote {len(df)} events to {out}", file=sys.stderr)
    return 0


def _row_dict(row: Any) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "event_type": row.event_type,
        "timestamp": row.timestamp.timestamp(),
        "source_node": row.source_node,
        "payload": row.payload,
    }
