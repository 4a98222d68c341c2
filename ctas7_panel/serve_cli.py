"""``ctas7 serve`` (everything in one process, dashboard included) and ``ctas7 demo``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ctas7_panel.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser(
        "serve",
        help="run everything in one process: watcher, bridge, gateway, Legion, Neural Mux, "
        "dashboard",
        description="Start the whole system and the dashboard (http://HOST:PORT/app), both "
        "listening on CTAS7_BIND (127.0.0.1 by default; anything else needs CTAS7_TOKEN). With "
        "CTAS7_DATABASE_URL unset it uses the embedded PostgreSQL and runs the demo activity.",
    )
    serve.add_argument("--port", type=int, default=5006, help="dashboard port (5006)")
    serve.add_argument(
        "--demo",
        dest="demo",
        action="store_true",
        default=None,
        help="run the demo activity (default: only when no database is configured)",
    )
    serve.add_argument("--no-demo", dest="demo", action="store_false")
    serve.add_argument("--no-gateway", action="store_true", help="do not serve the websocket ports")
    serve.add_argument(
        "--allow-websocket-origin",
        action="append",
        default=None,
        metavar="HOST[:PORT]",
        help="browser origin allowed to open the dashboard (repeatable; default: localhost, "
        "127.0.0.1 and CTAS7_BIND when it is a single address)",
    )
    serve.add_argument("--no-mcp", action="store_true", help="do not serve the MCP server at /mcp")
    serve.set_defaults(handler=cmd_serve)

    demo = sub.add_parser(
        "demo",
        help="drive the real pipeline with demo activity (DDL, Legion tasks, a pytest run)",
        description="Apply the bundled demo migrations over time, run Legion tasks and a small "
        "pytest suite with telemetry, through the real watcher, bridge and store. Prints one "
        "line per event.",
    )
    demo.add_argument("--duration", type=float, default=None, help="seconds (default: until ^C)")
    demo.add_argument("--ddl-every", type=float, default=6.0, help="seconds between DDL steps")
    demo.add_argument("--task-rate", type=float, default=2.0, help="Legion tasks per second")
    demo.add_argument(
        "--tests-every", type=float, default=30.0, help="seconds between pytest runs (0: none)"
    )
    demo.add_argument("--json", action="store_true", help="print each event as a JSON line")
    demo.add_argument("--no-gateway", action="store_true", help="do not serve the websocket ports")
    demo.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from ctas7_panel.demo import DemoConfig
    from ctas7_panel.runtime import Parts, build_services

    config = DemoConfig(
        ddl_every=args.ddl_every,
        task_rate=args.task_rate,
        tests_every=args.tests_every,
        duration=args.duration,
    )

    async def run() -> None:
        parts = Parts(demo=True, gateway=not args.no_gateway, demo_config=config)
        async with build_services(settings, parts) as svc:
            bus, _ = svc.running()
            demo = svc.demo
            assert demo is not None
            sub = await bus.subscribe("demo-cli", topic="events")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            deadline = None if args.duration is None else time.monotonic() + args.duration
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                for msg in await sub.get(100, timeout=0.5):
                    _print_event(msg.event, as_json=args.json)
                    await sub.ack(msg)
            await sub.close()
            print(
                f"demo: {len(demo.ddl_applied)} DDL steps, {demo.tasks_run} tasks, "
                f"{demo.test_runs} test runs",
                file=sys.stderr,
            )

    asyncio.run(run())
    return 0


def _print_event(event: Any, *, as_json: bool) -> None:
    if as_json:
        print(event.to_json().decode(), flush=True)
        return
    p = event.payload
    detail = p.get("status") or p.get("outcome") or p.get("name") or ""
    try:
        stamp = time.strftime("%H:%M:%S", time.localtime(event.timestamp))
    except (OverflowError, OSError, ValueError, TypeError):  # a producer on the bus, not the edge
        stamp = "--:--:--"
    print(f"{stamp} {event.event_type:26s} {event.source_node:12s} {detail}", flush=True)


def _origins(bind: str, port: int) -> list[str]:
    """Browser origins allowed by default: this machine, and the bind address when it is one."""
    origins = [f"localhost:{port}", f"127.0.0.1:{port}"]
    if bind not in {"127.0.0.1", "localhost", "0.0.0.0", "::", "::1"}:
        origins.append(f"[{bind}]:{port}" if ":" in bind else f"{bind}:{port}")
    return origins


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import panel as pn

    from ctas7_panel.runtime import Parts, get_runtime

    runtime = get_runtime(settings, parts=Parts(demo=args.demo, gateway=not args.no_gateway))
    from ctas7_panel.dashboard.access import guarded_app

    def app() -> Any:
        return guarded_app(settings, os.environ)

    mcp = None
    if not args.no_mcp:  # the MCP server at /mcp on the same port (ctas7_panel.mcp.embed)
        from ctas7_panel.mcp.embed import EmbeddedMcp

        mcp = EmbeddedMcp(runtime, bind=settings.bind)
    server = pn.serve(
        {"app": app},
        port=args.port,
        address=settings.bind,
        show=False,
        start=False,
        websocket_origin=args.allow_websocket_origin or _origins(settings.bind, args.port),
        title="ctas7 telemetry",
        extra_patterns=mcp.patterns if mcp else [],
    )
    loop = server.io_loop
    if mcp is not None:
        loop.add_callback(mcp.start)

    def stop(signum: int, frame: Any) -> None:
        loop.add_callback_from_signal(loop.stop)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    print(
        f"ctas7: dashboard at http://{settings.bind}:{args.port}/app", file=sys.stderr, flush=True
    )
    try:
        server.start()
        loop.start()
    finally:
        if mcp is not None:
            with contextlib.suppress(Exception):
                loop.run_sync(mcp.stop, timeout=10)
        server.stop()
        with contextlib.suppress(Exception):
            runtime.stop()
    return 0
