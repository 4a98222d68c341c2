"""Typegen speed on big_1000 (1000 tables, 12,450 columns, 100 views, 100 functions).

Times, each the median of ``--runs`` (default 5), printed beside its goal and against the
anchor (Supabase's ``gen types typescript``: 5.5 s end to end on this schema):

- introspection on a warm connection (lean, as ``schema typegen`` does; and full, with
  constraints and indexes, as the snapshot needs)          goal <= 300 ms
- snapshot + sha256 fingerprint                              goal <= 20 ms
- TypeScript generation (pure)
- the whole ``ctas7 schema typegen --db-url URL -o FILE`` process   goal <= 0.5 s

The output is checked against the golden before timing. The package is byte-compiled first
(``compileall``), so the whole-process figure is the steady state of an installed package even
when ``PYTHONDONTWRITEBYTECODE`` is set. The machine's load average is printed with the figures
(on a shared 2-core machine it moves them by 2x). Needs a PostgreSQL admin URL
(``CTAS7_TEST_DATABASE_URL``, else ``--admin-url``); the schema goes into a throwaway database.

    .venv/bin/python benchmarks/typegen.py [--runs 5] [--admin-url URL]
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ctas7_panel import pgtools
from ctas7_panel.schema import TypegenOptions, fingerprint, generate_typescript, to_snapshot
from ctas7_panel.schema.introspect import introspect

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "typegen"
ANCHOR_S = 5.5
OPTIONS = TypegenOptions(schemas=("public",))


def load_big(url: str) -> None:
    """In batches: big_1000 in one transaction can exceed a default server's lock table."""
    text = (FIXTURES / "schemas" / "big_1000.sql").read_text()
    statements = [s for s in re.split(r";\s*\n", text) if s.strip()]
    for start in range(0, len(statements), 300):
        pgtools.apply_sql(url, ";\n".join(statements[start : start + 300]) + ";\n")


def median_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def row(label: str, seconds: float, goal: float | None) -> str:
    verdict = "" if goal is None else ("ok" if seconds <= goal else "OVER")
    goal_text = "" if goal is None else f"<= {goal * 1000:6.0f} ms"
    return (
        f"{label:<44} {seconds * 1000:8.1f} ms  {goal_text:<12} {verdict:<5}"
        f"  x{ANCHOR_S / seconds:7.1f} vs anchor"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--admin-url", default=os.environ.get("CTAS7_TEST_DATABASE_URL"))
    args = parser.parse_args(argv)
    if not args.admin_url:
        print("set CTAS7_TEST_DATABASE_URL or pass --admin-url", file=sys.stderr)
        return 2
    golden = (FIXTURES / "golden" / "big_1000.ts").read_text()
    with pgtools.temporary_database(args.admin_url, prefix="ctas7_bench_") as url:
        print("loading big_1000 ...", file=sys.stderr)
        load_big(url)
        with pgtools.connect(url) as conn:
            catalog = introspect(conn, OPTIONS)
            text = generate_typescript(catalog, OPTIONS)
            if text != golden:
                print("generated text differs from golden/big_1000.ts", file=sys.stderr)
                return 1
            lean = median_of(args.runs, lambda: introspect(conn, OPTIONS, details=False))
            full = median_of(args.runs, lambda: introspect(conn, OPTIONS))
        snap = median_of(args.runs, lambda: fingerprint(to_snapshot(catalog)))
        gen = median_of(args.runs, lambda: generate_typescript(catalog, OPTIONS))
        compileall.compile_dir(str(ROOT / "ctas7_panel"), quiet=1)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "database.types.ts"
            command = [sys.executable, "-m", "ctas7_panel", "schema", "typegen"]
            command += ["--db-url", url, "--schema", "public", "-o", str(out)]
            whole = median_of(args.runs, lambda: subprocess.run(command, check=True))
            assert out.read_text() == golden
        size = len(text.encode())
        snap_size = len(__import__("orjson").dumps(to_snapshot(catalog)))
    print(f"big_1000: {size / 1e6:.2f} MB of TypeScript, snapshot {snap_size / 1e6:.2f} MB")
    print(f"median of {args.runs} runs; anchor = Supabase's generator, {ANCHOR_S} s end to end")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average {load} on {os.cpu_count()} cores")
    print(row("introspection, lean (warm connection)", lean, 0.300))
    print(row("introspection, full (+constraints, indexes)", full, None))
    print(row("snapshot + fingerprint (sha256)", snap, 0.020))
    print(row("TypeScript generation", gen, None))
    print(row("whole 'ctas7 schema typegen' process", whole, 0.500))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
