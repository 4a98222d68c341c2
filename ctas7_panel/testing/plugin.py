"""The ctas7 pytest plugin: a schema audit gate before the tests, and test results as events.

Registered through the ``pytest11`` entry point, so pytest loads it in every run, but it does
nothing unless enabled (importing it imports only the standard library and pytest):

- schema audit: ``--ctas7-audit``, ``PLAYWRIGHT_SCHEMA_AUDIT_ENABLED=true`` or ini
  ``ctas7_audit = true``. Once per session, before collection (on the xdist controller only),
  the audit of ``ctas7_panel.testing.audit`` runs against ``--ctas7-db-url`` (else
  ``CTAS7_DATABASE_URL``, else the embedded server) and writes ``schema_audit_report.md``
  (``--ctas7-audit-report`` / ini ``ctas7_audit_report``). VERIFIED or REGENERATED: the tests
  run (the header says which). FAILED: the session stops before collecting anything, with one
  message naming the reason, exit code 1.
- test telemetry: ``--ctas7-telemetry`` or ini ``ctas7_telemetry = true``. Every test sends
  ``playwright_test_started`` and ``playwright_test_completed`` (the shape every producer
  sends, ``ctas7_panel.testing.testevents``: nodeid, outcome, duration_ms, browser when the
  test used a Playwright browser, run_id = session_id, message, when, worker, ...) to
  the event store and to the Redis bus (``CTAS7_BUS_URL=redis://...``) or else the bridge's
  websocket ingress (``--ctas7-bridge-url`` / ini ``ctas7_bridge_url`` / ``CTAS7_BRIDGE_URL``,
  default ``ws://127.0.0.1:8002/telemetry_bridge``). Sending happens in a background thread;
  whatever could not be delivered is reported at the end as exactly one warning
  (``Ctas7TelemetryWarning``, recorded directly, so ``-W error`` does not turn a bridge outage
  into a failed run).

Under xdist the controller sends every event (workers only tag reports with the browser).
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ctas7_panel.settings import Settings
    from ctas7_panel.testing.report import AuditResult
    from ctas7_panel.testing.telemetry import TelemetrySender

AUDIT_ENV = "PLAYWRIGHT_SCHEMA_AUDIT_ENABLED"
BRIDGE_ENV = "CTAS7_BRIDGE_URL"
PLUGIN_NAME = "ctas7-session"
BROWSER_PROPERTY = "ctas7_browser"
AUDIT_FAILED_EXIT = 1


class Ctas7TelemetryWarning(pytest.PytestWarning):
    """Test events could not be delivered (the tests themselves are unaffected)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ctas7", "ctas7 schema audit and test telemetry")
    group.addoption(
        "--ctas7-audit",
        action="store_true",
        default=None,
        help="run the ctas7 schema audit before the tests; stop if it fails "
        f"(also {AUDIT_ENV}=true or ini ctas7_audit)",
    )
    group.addoption(
        "--ctas7-audit-report",
        metavar="PATH",
        help="where the audit writes its report (default schema_audit_report.md)",
    )
    group.addoption(
        "--ctas7-db-url",
        metavar="URL",
        help="database the audit checks (default CTAS7_DATABASE_URL, else the embedded one)",
    )
    group.addoption(
        "--ctas7-telemetry",
        action="store_true",
        default=None,
        help="send playwright_test_started/completed events (also ini ctas7_telemetry)",
    )
    group.addoption(
        "--ctas7-bridge-url",
        metavar="URL",
        help=f"bridge ingress for test events when the bus is in-memory (default {BRIDGE_ENV} "
        "or ws://127.0.0.1:8002/telemetry_bridge)",
    )
    parser.addini("ctas7_audit", "run the ctas7 schema audit before the tests", type="bool")
    parser.addini("ctas7_audit_report", "path of schema_audit_report.md", type="string")
    parser.addini("ctas7_telemetry", "send test results as ctas7 events", type="bool")
    parser.addini("ctas7_bridge_url", "bridge ingress URL for test events", type="string")


def _env_audit_enabled() -> bool:
    """``PLAYWRIGHT_SCHEMA_AUDIT_ENABLED`` (read alone: another bad variable does not stop a
    pytest run that does not use the plugin)."""
    from ctas7_panel.errors import ConfigError
    from ctas7_panel.settings import read_variable

    try:
        return bool(read_variable(os.environ, AUDIT_ENV))
    except ConfigError as exc:
        raise pytest.UsageError(f"ctas7: {exc}") from exc


def _flag(config: pytest.Config, option: str, ini: str) -> bool:
    value = config.getoption(option)
    if value is not None:
        return bool(value)
    return bool(config.getini(ini))


def pytest_configure(config: pytest.Config) -> None:
    audit = _flag(config, "ctas7_audit", "ctas7_audit") or _env_audit_enabled()
    telemetry = _flag(config, "ctas7_telemetry", "ctas7_telemetry")
    if not (audit or telemetry):
        return
    from ctas7_panel.errors import ConfigError
    from ctas7_panel.settings import Settings

    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        raise pytest.UsageError(f"ctas7: {exc}") from exc
    worker = hasattr(config, "workerinput")
    config.pluginmanager.register(
        Ctas7Session(config, settings, audit=audit, telemetry=telemetry, worker=worker),
        PLUGIN_NAME,
    )


class Ctas7Session:
    """The enabled plugin for one pytest session."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        *,
        audit: bool,
        telemetry: bool,
        worker: bool,
    ) -> None:
        self.config = config
        self.settings = settings
        self.audit = audit and not worker
        self.telemetry = telemetry
        self.worker = worker
        self.session_id = uuid.uuid4().hex[:12]
        self.audit_result: AuditResult | None = None
        self.sender: TelemetrySender | None = None
        self._reports: dict[str, list[pytest.TestReport]] = {}
        self._closed = False

    # -- plumbing

    def _report_path(self) -> str:
        return str(
            self.config.getoption("ctas7_audit_report")
            or self.config.getini("ctas7_audit_report")
            or "schema_audit_report.md"
        )

    def _bridge_url(self) -> str | None:
        """The flag or ini value; else the sender takes ``CTAS7_BRIDGE_URL`` from settings."""
        return (
            self.config.getoption("ctas7_bridge_url")
            or self.config.getini("ctas7_bridge_url")
            or None
        )

    def _sender(self) -> TelemetrySender:
        if self.sender is None:
            from ctas7_panel.testing.telemetry import TelemetryConfig, TelemetrySender

            cfg = TelemetryConfig.from_settings(self.settings, bridge_url=self._bridge_url())
            self.sender = TelemetrySender(cfg)
            self.sender.start()
        return self.sender

    def _close_sender(self, timeout: float = 10.0) -> list[str]:
        if self._closed or self.sender is None:
            return []
        self._closed = True
        return self.sender.close(timeout)

    # -- the audit gate

    @pytest.hookimpl
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Audit before collection (and before xdist starts its workers: theirs is trylast)."""
        if not self.audit:
            return
        from ctas7_panel.errors import Ctas7Error
        from ctas7_panel.testing.audit import audit

        report = self._report_path()
        try:
            result = audit(
                self.settings, db_url=self.config.getoption("ctas7_db_url"), report_path=report
            )
        except Ctas7Error as exc:
            self._stop(f"ctas7 schema audit FAILED: {exc}")
            return
        self.audit_result = result
        sender = self._sender()
        for event in result.events:
            sender.submit(event)
        if not result.ok:
            self._stop(
                f"ctas7 schema audit FAILED ({result.stage}): {result.reason} "
                f"- no test was run; report: {report}"
            )

    def _stop(self, message: str) -> None:
        self._close_sender(timeout=2.0)
        pytest.exit(message, returncode=AUDIT_FAILED_EXIT)

    def pytest_report_header(self, config: pytest.Config) -> str | None:
        r = self.audit_result
        if r is None:
            return None
        return f"ctas7 schema audit: {r.one_line()} (report: {self._report_path()})"

    # -- telemetry (browser tagging runs where the item is: the worker under xdist)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        if self.telemetry and not any(k == BROWSER_PROPERTY for k, _ in item.user_properties):
            browser = browser_of(getattr(item, "funcargs", None) or {})
            if browser:
                item.user_properties.append((BROWSER_PROPERTY, browser))
        return (yield)

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        if not self.telemetry or self.worker:
            return
        from ctas7_panel import events as ev

        self._sender().submit(
            ev.playwright_test_started(
                nodeid=nodeid,
                source_node="pytest",
                project=None,
                run_id=self.session_id,
                retry=0,
                worker=None,
                session_id=self.session_id,
            )
        )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.telemetry and not self.worker:
            self._reports.setdefault(report.nodeid, []).append(report)

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        if not self.telemetry or self.worker:
            return
        from ctas7_panel import events as ev

        reports = self._reports.pop(nodeid, [])
        if not reports:
            return
        summary = summarise_reports(reports)
        self._sender().submit(
            ev.playwright_test_completed(
                nodeid=nodeid,
                outcome=summary["outcome"],
                duration_ms=summary["duration_ms"],
                browser=summary["browser"],
                source_node="pytest",
                project=None,
                run_id=self.session_id,
                retry=0,
                worker=summary["worker"],
                session_id=self.session_id,
                when=summary["when"],
                message=summary["message"],
                retries=0,
                flaky=False,
                final=True,
            )
        )

    # -- the end

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        problems = self._close_sender()
        if problems:
            text = "ctas7 telemetry: " + "; ".join(problems) + " - the tests were not affected"
            record_warning(self.config, Ctas7TelemetryWarning(text))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._close_sender(timeout=2.0)


def record_warning(config: pytest.Config, warning: Warning) -> None:
    """Put one warning in pytest's warnings summary without going through warning filters."""
    message = warnings.WarningMessage(
        message=warning,
        category=type(warning),
        filename=__file__,
        lineno=0,
    )
    config.hook.pytest_warning_recorded.call_historic(
        kwargs={"warning_message": message, "when": "runtest", "nodeid": "", "location": None}
    )


# --- pure helpers --------------------------------------------------------------------------


def browser_of(funcargs: dict[str, Any]) -> str | None:
    """The Playwright browser a test used: ``browser_name`` (pytest-playwright), or the browser
    type of a ``page``/``context``/``browser`` fixture value from the playwright package."""
    name = funcargs.get("browser_name")
    if isinstance(name, str) and name:
        return name
    for value in funcargs.values():
        if not type(value).__module__.startswith("playwright."):
            continue
        obj: Any = value
        for attr in ("context", "browser"):  # page -> context -> browser
            if type(obj).__name__.lower() != "browser" and hasattr(obj, attr):
                obj = getattr(obj, attr)
        browser_type = getattr(obj, "browser_type", None)
        found = getattr(browser_type, "name", None)
        if isinstance(found, str):
            return found
    return None


def _message(report: pytest.TestReport) -> str | None:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")[:500]
    crash = getattr(getattr(report.longrepr, "reprcrash", None), "message", None)
    if isinstance(crash, str) and crash.strip():
        return crash.strip().splitlines()[0][:500]
    text = report.longreprtext.strip() if report.longrepr is not None else ""
    if not text:
        return None
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E ")]
    return (errors[-1] if errors else lines[-1]).strip()[:500]


def summarise_reports(reports: list[Any]) -> dict[str, Any]:
    """One test's outcome from its setup/call/teardown reports (pytest's own rules)."""
    outcome = "passed"
    when: str | None = None
    message: str | None = None
    for r in reports:
        wasxfail = hasattr(r, "wasxfail")
        if r.failed:
            if r.when == "call":
                new = "failed"
            else:
                new = "error"
            if outcome not in {"failed", "error"}:
                outcome, when, message = new, r.when, _message(r)
        elif r.skipped and outcome == "passed":
            outcome = "xfailed" if wasxfail else "skipped"
            when, message = r.when, (str(r.wasxfail) if wasxfail else _message(r))
        elif r.when == "call" and r.passed and wasxfail and outcome == "passed":
            reason = f" ({r.wasxfail})" if r.wasxfail else ""
            outcome, when, message = "passed", "call", f"unexpectedly passed, xfail{reason}"
    browser = None
    worker = None
    for r in reports:
        for key, value in getattr(r, "user_properties", ()):
            if key == BROWSER_PROPERTY:
                browser = str(value)
        node = getattr(r, "node", None)
        gateway = getattr(node, "gateway", None)
        if gateway is not None:
            worker = str(getattr(gateway, "id", None))
    duration = sum(float(getattr(r, "duration", 0.0) or 0.0) for r in reports)
    return {
        "outcome": outcome,
        "duration_ms": round(duration * 1000, 3),
        "when": when,
        "message": message,
        "browser": browser,
        "worker": worker,
    }
