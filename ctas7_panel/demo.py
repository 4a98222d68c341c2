"""The demo activity source: real DDL, real Legion tasks, a real pytest run, over time.

``DemoActivity`` drives the real pipeline so an empty install has something true to show:

- every ``ddl_every`` seconds it applies the next bundled demo migration
  (``ctas7_panel/migrations/demo/*.sql``: a column, an index, an enum, a table, a view, an enum
  label, a function, a comment); once all are applied it keeps the schema moving by adding and
  dropping a column of ``public.crates`` (real DDL, real ``schema_updated`` events);
- ``task_rate`` times a second it runs a Legion task (inserts, counts, selects on the demo
  tables) through the ``LegionExecutionEngine``, which publishes ``task_executed``;
- every ``tests_every`` seconds it runs the small pytest suite in ``ctas7_panel.demo_suite`` in a
  subprocess, so ``playwright_test_*`` events flow too: with the ctas7 telemetry plugin on when
  the app has a bridge ingress (``CTAS7_BRIDGE_URL`` in ``test_env``: the gateway's), else with
  ``--junitxml`` and the report published on the bus (``ctas7_panel.testing.ingest``). When the
  run cannot happen or breaks (pytest missing, a usage or internal error, the plugin's events
  undelivered), it publishes ``test_run_status`` (``unavailable`` or ``failed``) with the
  reason in ``message``: the dashboard's Test Results panel shows it as its note.

Nothing here is synthetic except the traffic: the events come from the components themselves.
``run(stop)`` is cancel-safe; each step's failure is logged and the demo goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import logging
import os
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctas7_panel import migrations, pgtools
from ctas7_panel.errors import Ctas7Error

if TYPE_CHECKING:
    from ctas7_panel.events import Event
    from ctas7_panel.legion import LegionExecutionEngine

log = logging.getLogger(__name__)

BRIDGE_ENV = "CTAS7_BRIDGE_URL"
NO_PYTEST = -2
STOP_GRACE_S = 2.0  # how long a stopping demo lets its current steps finish
PYTEST_EXIT = {
    2: "was interrupted",
    3: "hit an internal error",
    4: "was called wrongly (usage error)",
    5: "collected no tests",
}


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """How fast the demo moves. ``duration`` None = until stopped."""

    ddl_every: float = 6.0
    task_rate: float = 2.0
    tests_every: float = 30.0
    duration: float | None = None
    first_ddl_after: float = 1.5


def churn_sql(step: int) -> str:
    """The DDL of churn step ``step`` (after the bundled migrations): add, then drop, a column."""
    column = f"demo_note_{(step // 2) % 5}"
    if step % 2 == 0:
        return f"ALTER TABLE public.crates ADD COLUMN IF NOT EXISTS {column} text"
    return f"ALTER TABLE public.crates DROP COLUMN IF EXISTS {column}"


def task_specs(n: int) -> list[tuple[str, dict[str, Any]]]:
    """A rotating mix of (task name, Query keyword arguments) on the demo schema."""
    host = f"demo-{secrets.token_hex(3)}"
    specs: list[tuple[str, dict[str, Any]]] = [
        (
            "register_node",
            {
                "table": "nodes",
                "op": "insert",
                "values": {"hostname": host, "capacity_slots": random.randint(2, 16)},
                "returning": ("id",),
            },
        ),
        (
            "enqueue_task",
            {
                "table": "tasks",
                "op": "insert",
                "values": {"name": f"job-{n}", "priority": n % 5},
                "returning": ("id",),
            },
        ),
        ("count_tasks", {"table": "tasks", "op": "count"}),
        (
            "recent_tasks",
            {
                "table": "tasks",
                "op": "select",
                "columns": ("id", "name", "status"),
                "order_by": ("-created_at",),
                "limit": 20,
            },
        ),
        (
            "record_telemetry",
            {
                "table": "telemetry_events",
                "op": "insert",
                "values": {"event_type": "heartbeat", "severity": n % 3, "payload": {"n": n}},
            },
        ),
        (
            "list_nodes",
            {"table": "nodes", "op": "select", "columns": ("id", "hostname"), "limit": 50},
        ),
    ]
    return [specs[n % len(specs)]]


class DemoActivity:
    """See the module docstring."""

    def __init__(
        self,
        database_url: str,
        *,
        legion: LegionExecutionEngine | None = None,
        config: DemoConfig | None = None,
        test_env: dict[str, str] | None = None,
        publish: Callable[[Event], Awaitable[None]] | None = None,
    ) -> None:
        self.database_url = database_url
        self.legion = legion
        self.config = config or DemoConfig()
        self.test_env = test_env  # None: no test runs
        self.publish = publish  # how test results reach the bus (junit reports, failures)
        self.ddl_applied: list[str] = []
        self.tasks_run = 0
        self.test_runs = 0
        self._churn = itertools.count()

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set or ``duration`` has passed.

        Then each loop finishes the step it is in (a Legion task, a DDL statement), for at most
        ``STOP_GRACE_S``, so a stop does not show up as cancelled demo work; what is still
        running after that (a long test run) is cancelled.
        """
        ending = asyncio.Event()
        loops = [self._ddl_loop(ending)]
        if self.legion is not None and self.config.task_rate > 0:
            loops.append(self._task_loop(ending))
        if self.test_env is not None and self.config.tests_every > 0:
            loops.append(self._test_loop(ending))
        tasks = [asyncio.create_task(c) for c in loops]
        try:
            if self.config.duration is None:
                await stop.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.duration):
                        await stop.wait()
        finally:
            ending.set()
            _, running = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
            for t in running:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def step_ddl(self) -> str:
        """Apply the next demo migration (or a churn step); return what was applied."""
        return await asyncio.to_thread(self._step_ddl_blocking)

    def _step_ddl_blocking(self) -> str:
        done = migrations.applied(self.database_url)
        for m in migrations.bundled("demo"):
            if m.name not in done:
                migrations.apply_one(self.database_url, m)
                self.ddl_applied.append(m.name)
                return m.name
        sql = churn_sql(next(self._churn))
        pgtools.apply_sql(self.database_url, sql)
        self.ddl_applied.append(sql)
        return sql

    async def _ddl_loop(self, stop: asyncio.Event) -> None:
        await _sleep(stop, self.config.first_ddl_after)
        while not stop.is_set():
            try:
                log.info("demo: applied %s", await self.step_ddl())
            except Ctas7Error as exc:
                log.warning("demo: DDL step failed: %s", exc)
            await _sleep(stop, self.config.ddl_every)

    async def _task_loop(self, stop: asyncio.Event) -> None:
        from ctas7_panel.legion import Query, Task

        assert self.legion is not None
        n = 0
        while not stop.is_set():
            for name, spec in task_specs(n):
                try:
                    await self.legion.execute(Task(name, query=Query(**spec)))
                except Ctas7Error as exc:  # a schema error is reported by the task event
                    log.debug("demo task %s: %s", name, exc)
                self.tasks_run += 1
            n += 1
            await _sleep(stop, random.expovariate(self.config.task_rate))

    async def _test_loop(self, stop: asyncio.Event) -> None:
        await _sleep(stop, 2.0)
        while not stop.is_set():
            await self.run_test_suite()
            await _sleep(stop, self.config.tests_every)

    async def run_test_suite(self) -> int:
        """Run the demo pytest suite and make its results events; return pytest's exit code
        (``NO_PYTEST`` when pytest is not installed)."""
        started = time.time()
        self.test_runs += 1
        if importlib.util.find_spec("pytest") is None:
            await self._test_run_failed(
                "pytest is not installed in the app's Python "
                f"({sys.executable}): pip install 'pytest>=8'",
                started,
                status="unavailable",
                code=None,
            )
            return NO_PYTEST
        suite = Path(__file__).with_name("demo_suite")
        env = {
            **os.environ,
            **(self.test_env or {}),
            "CTAS7_DEMO_DATABASE_URL": self.database_url,
            "PYTHONDONTWRITEBYTECODE": "1",  # nothing written into the installed package
            # only the plugins this run needs, whatever else is installed (faster, and no
            # other plugin's settings or hooks in the demo's run)
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        }
        with tempfile.TemporaryDirectory(prefix="ctas7-demo-tests-") as tmp:
            argv = [sys.executable, "-m", "pytest", str(suite), "-q", "-p", "no:cacheprovider"]
            plugin = uses_plugin(self.test_env or {})
            junit = Path(tmp) / "demo-suite.xml"
            if plugin:
                argv += ["-p", "ctas7_panel.testing.plugin", "--ctas7-telemetry"]
            else:
                argv.append(f"--junitxml={junit}")
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=tmp,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                # its own session: a Ctrl+C or SIGTERM to the app's process group is the app's
                # to handle (it kills the run when it stops), not an interrupted test run
                start_new_session=True,
            )
            try:
                output, _ = await proc.communicate()
            except asyncio.CancelledError:  # stopping: no test run outlives the app
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await asyncio.shield(proc.wait())
                raise
            code = proc.returncode if proc.returncode is not None else -1
            text = output.decode("utf-8", "replace")
            problem = test_run_problem(code, text)
            if problem is None and not plugin:
                problem = await self._publish_junit(junit, started)
        if problem is not None:
            log.warning("demo: the test run did not report: %s", problem)
            await self._test_run_failed(problem, started, status="failed", code=code)
        return code

    async def _publish_junit(self, report: Path, started: float) -> str | None:
        """Publish the JUnit report's events on the bus; the problem, if any."""
        from ctas7_panel.testing.ingest import parse_report, to_events

        try:
            data = await asyncio.to_thread(report.read_bytes)
            parsed = parse_report(data, "junit-xml")
        except (OSError, Ctas7Error) as exc:
            return f"pytest wrote no usable report ({exc})"
        for event in to_events(parsed, source_node="pytest", default_start=started):
            await self._publish(event)
        return None

    async def _test_run_failed(
        self, reason: str, started: float, *, status: str, code: int | None
    ) -> None:
        """``test_run_status``: the run as a whole, and why its results are not there."""
        from ctas7_panel.events import Event
        from ctas7_panel.testing import testevents

        event = Event.create(
            testevents.RUN_STATUS,
            {
                "status": status,
                "message": f"the demo's test run did not report: {reason}"[:500],
                "run_id": f"demo-{int(started * 1000)}",
                "exit_code": code,
                "duration_ms": round(max(0.0, time.time() - started) * 1000, 3),
            },
            source_node="demo",
        )
        await self._publish(testevents.check(event))

    async def _publish(self, event: Event) -> None:
        if self.publish is None:
            return
        try:
            await self.publish(event)
        except Ctas7Error as exc:
            log.warning("demo: cannot publish %s: %s", event.event_type, exc)


def uses_plugin(test_env: dict[str, str]) -> bool:
    """Whether the telemetry plugin can reach the app: through its bridge ingress or a shared
    Redis bus (decided by ``test_env`` alone, never by an inherited ``CTAS7_BRIDGE_URL``)."""
    bus = test_env.get("CTAS7_BUS_URL", "memory://")
    return bool(test_env.get(BRIDGE_ENV)) or not bus.startswith("memory")


def test_run_problem(code: int, output: str) -> str | None:
    """Why a pytest run of the demo suite did not report its results, or None (pure).

    Exit 0 (all passed) and 1 (some failed) are normal runs; anything else (2 interrupted,
    3 internal error, 4 usage error, 5 no tests) is a problem, named with pytest's last words;
    so is the telemetry plugin's warning that its events were not delivered.
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if code not in (0, 1):
        meaning = PYTEST_EXIT.get(code, f"exit code {code}")
        tail = next(
            (line for line in reversed(lines) if "error" in line.lower()),
            lines[-1] if lines else "",
        )
        return f"pytest {meaning}" + (f": {tail}" if tail else "")
    for line in lines:
        if "ctas7 telemetry:" in line:
            return line[line.index("ctas7 telemetry:") :]
    return None


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, seconds)):
            await stop.wait()
