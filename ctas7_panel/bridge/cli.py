"""``ctas7 bridge`` (bus + bridge + gateway in one process) and ``ctas7 dlq list|replay``.

``ctas7 bridge`` prints one JSON line on stdout when it is ready
(``{"ready": true, "worker": ..., "ports": {...}}``) and runs until SIGTERM/SIGINT, then drains
in-flight deliveries (``--drain-timeout``), acks, and exits 0. Several of them on one Redis
(``CTAS7_BUS_URL=redis://...``) share the work; give each a different port set (or
``--no-gateway``) when they run on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

from ctas7_panel.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ctas7_panel.settings import Settings


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    return name.strip(), value.strip()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ctas7_panel.streams.gateway import default_ports
    from ctas7_panel.targetspec import target_names

    endpoint_names = tuple(default_ports())
    targets = ", ".join(target_names())
    b = sub.add_parser(
        "bridge",
        help="run the telemetry bridge: bus consumer, routing, delivery, websocket gateway",
        description="Consume events from the bus (CTAS7_BUS_URL), store them (CTAS7_STORE_URL), "
        f"route and deliver them to {targets} with retries and a "
        "dead-letter store, and serve the websocket gateway. SIGTERM drains and exits 0.",
    )
    g = b.add_argument_group("gateway")
    g.add_argument("--no-gateway", action="store_true", help="do not serve websockets")
    g.add_argument("--single-port", type=int, metavar="PORT", help="serve every endpoint on PORT")
    g.add_argument(
        "--port",
        action="append",
        type=_pair,
        default=[],
        metavar="ENDPOINT=PORT",
        help=f"port of one endpoint ({', '.join(endpoint_names)}); 0 = any free port",
    )
    b.add_argument(
        "--forward",
        action="append",
        type=_pair,
        default=[],
        metavar="TARGET=URL",
        help=f"deliver TARGET ({targets}) to a remote websocket URL",
    )
    b.add_argument("--consumer", help="consumer name in the bus group (default host:pid)")
    b.add_argument("--metrics-interval", type=float, default=5.0, metavar="S")
    b.add_argument("--drain-timeout", type=float, default=10.0, metavar="S")
    b.add_argument(
        "--claim-idle",
        type=float,
        default=30.0,
        metavar="S",
        help="Redis: take over entries a dead worker left pending this long; a consumer "
        "holding nothing is removed after 5x this idle",
    )
    r = b.add_argument_group("retries (exponential backoff with jitter, then dead letter)")
    r.add_argument("--retry-max-attempts", type=int, default=20)
    r.add_argument("--retry-max-elapsed", type=float, default=120.0, metavar="S")
    r.add_argument("--retry-base", type=float, default=0.05, metavar="S")
    r.add_argument("--retry-max-delay", type=float, default=5.0, metavar="S")
    b.set_defaults(handler=cmd_bridge)

    dlq = sub.add_parser("dlq", help="list or replay dead letters")
    dsub = dlq.add_subparsers(dest="dlq_command", metavar="SUBCOMMAND")
    ls = dsub.add_parser("list", help="print dead letters (JSON lines with --json)")
    ls.add_argument("--target", help=f"only this target ({targets}, ingress, ...)")
    ls.add_argument("--all", action="store_true", help="include replayed ones")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.set_defaults(handler=cmd_dlq_list)
    rp = dsub.add_parser(
        "replay",
        help="re-deliver dead letters through the normal delivery path",
        description="Deliver dead letters again (all unreplayed ones, or --id ...) to their "
        "target with the normal retries; successes are marked replayed.",
    )
    rp.add_argument("--id", action="append", type=int, dest="ids", metavar="ID")
    rp.add_argument("--forward", action="append", type=_pair, default=[], metavar="TARGET=URL")
    rp.set_defaults(handler=cmd_dlq_replay)


def _ports(pairs: list[tuple[str, str]]) -> dict[str, int]:
    from ctas7_panel.streams.gateway import default_ports

    names = tuple(default_ports())
    out: dict[str, int] = {}
    for name, value in pairs:
        if name not in names:
            raise UsageError(f"--port {name}=...: unknown endpoint, use one of {', '.join(names)}")
        try:
            out[name] = int(value)
        except ValueError as exc:
            raise UsageError(f"--port {name}={value!r}: the port must be a number") from exc
    return out


def cmd_bridge(args: argparse.Namespace, settings: Settings) -> int:
    from ctas7_panel.bridge.delivery import RetryPolicy

    retry = RetryPolicy(
        max_attempts=args.retry_max_attempts,
        base=args.retry_base,
        max_delay=args.retry_max_delay,
        max_elapsed=args.retry_max_elapsed,
    )
    ports = _ports(args.port)
    asyncio.run(_run_bridge(args, settings, retry, ports))
    return 0


async def _run_bridge(
    args: argparse.Namespace, settings: Settings, retry: Any, ports: dict[str, int]
) -> None:
    import orjson

    from ctas7_panel.bridge.bridge import default_worker_name, tune_gc
    from ctas7_panel.runtime import Parts, build_services

    worker = args.consumer or default_worker_name()
    parts = Parts.bridge_only(
        gateway=not args.no_gateway,
        gateway_port=args.single_port,
        gateway_ports=ports,
        gateway_required=True,  # ports taken: say so and stop (ConfigError, exit 2)
        forward=dict(args.forward),
        retry=retry,
        worker=worker,
        metrics_interval=args.metrics_interval or None,
        drain_timeout=args.drain_timeout,
        claim_idle=args.claim_idle,
    )
    services = build_services(settings, parts)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, services.stop)
    async with services:
        bridge, gateway = services.bridge, services.gateway
        assert bridge is not None
        ready = {
            "ready": True,
            "worker": worker,
            "ports": gateway.ports if gateway else {},
            "targets": {n: type(t).__name__ for n, t in bridge.targets.items()},
        }
        sys.stdout.write(orjson.dumps(ready).decode() + "\n")
        sys.stdout.flush()
        tune_gc()
        await services.wait()


def cmd_dlq_list(args: argparse.Namespace, settings: Settings) -> int:
    import orjson

    from ctas7_panel.store import open_store

    store = open_store(settings.store_url)
    try:
        letters = store.dead_letters(target=args.target, include_replayed=args.all)
    finally:
        store.close()
    out = sys.stdout
    if args.json:
        for dl in letters:
            row = {
                "id": dl.id,
                "target": dl.target,
                "event_id": dl.event.event_id,
                "event_type": dl.event.event_type,
                "attempts": dl.attempts,
                "reason": dl.reason,
                "first_failure": dl.first_failure,
                "last_failure": dl.last_failure,
                "replayed_at": dl.replayed_at,
                "event": dl.event.to_dict(),
            }
            out.write(orjson.dumps(row).decode() + "\n")
        return 0
    if not letters:
        print("no dead letters", file=sys.stderr)
        return 0
    out.write(
        f"{'ID':>6}  {'TARGET':<11} {'EVENT_TYPE':<26} {'TRIES':>5}  {'LAST FAILURE':<19}  REASON\n"
    )
    for dl in letters:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(dl.last_failure))
        reason = dl.reason if len(dl.reason) <= 80 else dl.reason[:77] + "..."
        flag = " (replayed)" if dl.replayed_at else ""
        out.write(
            f"{dl.id:>6}  {dl.target:<11} {dl.event.event_type:<26} {dl.attempts:>5}  "
            f"{when:<19}  {reason}{flag}\n"
        )
    return 0


def cmd_dlq_replay(args: argparse.Namespace, settings: Settings) -> int:
    n = asyncio.run(_replay(args, settings))
    print(f"replayed {n} dead letter{'s' if n != 1 else ''}", file=sys.stderr)
    return 0


async def _replay(args: argparse.Namespace, settings: Settings) -> int:
    return await replay_dead_letters(settings, args.ids, forward=dict(args.forward))


async def replay_dead_letters(
    settings: Settings, ids: Sequence[int] | None = None, *, forward: dict[str, str] | None = None
) -> int:
    """Re-deliver dead letters from another process than the bridge (``ctas7 dlq replay``, the
    MCP server's ``replay_dead_letters``); returns how many were delivered. Letters of targets
    delivered on the bus need a shared bus (``CTAS7_BUS_URL=redis://...``): ``UsageError``."""
    from ctas7_panel.bridge.targets import BusTarget
    from ctas7_panel.runtime import Parts, build_services

    parts = Parts.bridge_only(
        gateway=False, metrics_interval=None, forward=forward or {}, bridge_consumes=False
    )
    async with build_services(settings, parts) as services:
        bridge = services.bridge
        assert bridge is not None
        if settings.bus_url.startswith("memory"):
            _, store = services.running()
            letters = await asyncio.to_thread(store.dead_letters, ids=ids)
            local = sorted(
                {
                    dl.target
                    for dl in letters
                    if isinstance(bridge.targets.get(dl.target), BusTarget)
                }
            )
            if local:
                raise UsageError(
                    f"dead letters for {', '.join(local)} are delivered on the bus, and with "
                    "CTAS7_BUS_URL=memory:// no other process would see them: set "
                    "CTAS7_BUS_URL=redis://... (as the running bridge does), or use the "
                    "dashboard's replay button"
                )
        return await bridge.replay_dead_letters(None if ids is None else list(ids))
