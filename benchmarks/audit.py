"""Pre-test schema audit: time to VERIFIED when nothing changed, in-process and as a command.

Goals (issue 8): an unchanged audit in-process <= 150 ms on ctas7_core and <= 400 ms on big_1000;
the seed asks "Playwright pre-test audit < 1000 ms". Each run builds a fresh ``AuditConfig`` and
calls ``run_audit`` (new connection, nothing memoised in memory: what one ``pytest`` session or
``ctas7 audit`` pays), on the fast path (catalog probe + file hashes) and with ``--full``
(introspection + fingerprint + snapshot read). ``ctas7 audit`` as a subprocess is timed too
(interpreter start and imports included). Needs a PostgreSQL admin URL
(``CTAS7_TEST_DATABASE_URL`` or ``--admin-url``); each schema gets a throwaway database.

    .venv/bin/python benchmarks/audit.py [--runs 30] [--big-sql FILE]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import BIG_CANDIDATES, load_sql, pct, verdict

from ctas7_panel import pgtools
from ctas7_panel.migrations import apply_migrations
from ctas7_panel.settings import Settings
from ctas7_panel.testing.audit import AuditConfig, run_audit

CTAS7 = Path(sys.executable).with_name("ctas7")


def timed_audits(settings: Settings, url: str, runs: int, *, fast: bool) -> list[float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        result = run_audit(AuditConfig.from_settings(settings, url, fast_path=fast))
        times.append((time.perf_counter() - t) * 1000)
        assert result.status == "VERIFIED", result
        assert result.fast_path is fast, result
    return times


def bench(label: str, url: str, runs: int, goal_ms: float, work: Path) -> None:
    settings = Settings.from_env(
        {},
        schema_path=str(work / f"{label}.ts"),
        hash_cache_path=str(work / f".{label}_hash"),
        store_url=f"sqlite:///{work / 'events.db'}",
    )
    t = time.perf_counter()
    first = run_audit(AuditConfig.from_settings(settings, url))
    first_ms = (time.perf_counter() - t) * 1000
    assert first.status == "REGENERATED", first
    fast = timed_audits(settings, url, runs, fast=True)
    full = timed_audits(settings, url, max(3, runs // 5), fast=False)

    env = {
        **os.environ,
        "CTAS_SCHEMA_PATH": settings.schema_path,
        "CTAS_HASH_CACHE_PATH": settings.hash_cache_path,
        "CTAS7_STORE_URL": settings.store_url,
        "CTAS7_BUS_URL": "memory://",
    }
    cmd_times = []
    for _ in range(5):
        t = time.perf_counter()
        proc = subprocess.run(
            [str(CTAS7), "audit", "--db-url", url, "--report", str(work / "report.md")],
            env=env,
            capture_output=True,
            text=True,
        )
        cmd_times.append((time.perf_counter() - t) * 1000)
        assert proc.returncode == 0 and "VERIFIED" in proc.stdout, proc.stdout + proc.stderr

    print(f"{label} ({first.table_count} tables)")
    f50, f95 = pct(fast, 0.5), pct(fast, 0.95)
    print(
        f"  audit, unchanged (fast path)  p50 {f50:7.1f} ms  p95 {f95:7.1f} ms   "
        f"goal <= {goal_ms:g} ms: {verdict(f95, goal_ms)}"
    )
    u50 = pct(full, 0.5)
    print(
        f"  audit, unchanged (--full)     p50 {u50:7.1f} ms                "
        f"seed < 1000 ms: {verdict(u50, 1000)}"
    )
    c50 = pct(cmd_times, 0.5)
    print(
        f"  `ctas7 audit` subprocess      p50 {c50:7.1f} ms                "
        f"seed < 1000 ms: {verdict(c50, 1000)}"
    )
    print(f"  first audit (generates the types): {first_ms:7.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default=os.environ.get("CTAS7_TEST_DATABASE_URL"))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--big-sql", type=Path)
    args = parser.parse_args()
    if not args.admin_url:
        print("set CTAS7_TEST_DATABASE_URL or pass --admin-url", file=sys.stderr)
        return 2
    big = args.big_sql or next((p for p in BIG_CANDIDATES if p.exists()), None)
    with tempfile.TemporaryDirectory(prefix="ctas7-bench-audit-") as tmp:
        work = Path(tmp)
        with pgtools.temporary_database(args.admin_url) as url:
            apply_migrations(url)
            bench("ctas7_core", url, args.runs, 150, work)
        if big is None:
            print("big_1000: skipped (no SQL found; pass --big-sql)")
        else:
            with pgtools.temporary_database(args.admin_url) as url:
                load_sql(url, big)
                bench("big_1000", url, max(5, args.runs // 2), 400, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
