"""Typegen speed, side by side with Supabase's generator (postgres-meta 0.99.0 and 0.98.0).

For big_1000 (1000 tables, 12,450 columns, 100 views, 100 functions) and ctas7_core, each
loaded into a throwaway database, the medians (and minimums) of whole processes, run
interleaved (ours, 0.99.0, 0.98.0, ours, ...; more runs of ours are spread evenly between the
references' rounds) so that the machine's load drifts over all three alike:

- ours: ``python -m ctas7_panel schema typegen --db-url URL -o FILE`` (byte-compiled first,
  as an installed package is), output checked against the golden;
- postgres-meta 0.99.0 and 0.98.0 in their one-shot mode (``tests/refgen``, installed with
  ``npm ci`` when missing), output checked against their goldens.

Then the ratios (goal: ours >= 10x faster than 0.99.0 on both), and the seed's schema hash on
big_1000 (goal < 50 ms, introspection included): from scratch (full read + snapshot +
sha256), with ``SchemaHasher`` when nothing changed (one version query per relation), and right
after a DDL (a comment, an added column, a new index: the version query, then a partial read
of the changed relation and its dependents; checked to be partial, and the final hash checked
against a read from scratch). The load average is printed with the figures: on the shared
2-core machine it moves them by 2x or more.

    .venv/bin/python benchmarks/typegen.py [--runs 5] [--ref-runs 3] [--admin-url URL]
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ctas7_panel import pgtools
from ctas7_panel.schema import reference
from ctas7_panel.schema.hashing import SchemaHasher
from ctas7_panel.schema.introspect import introspect
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.pqlite import Connection as LibpqConnection
from ctas7_panel.schema.snapshot import fingerprint, to_snapshot

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from _common import load_sql  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "typegen"
CASES = {"big_1000": ("public",), "ctas7_core": ("public", "graphql_public")}
HASH_GOAL_S = 0.050
RATIO_GOAL = 10.0


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def median_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def ensure_references() -> None:
    for version in reference.REFERENCE_VERSIONS:
        if not reference.is_installed(version):
            print(f"installing postgres-meta {version} from npm ...", file=sys.stderr)
            subprocess.run(
                reference.install_command(version), cwd=reference.project_dir(version), check=True
            )


def golden(name: str, version: str) -> str:
    folder = FIXTURES / ("golden" if version == "0.98.0" else f"golden-{version}")
    return (folder / f"{name}.ts").read_text()


def whole_process(url: str, name: str, runs: int, ref_runs: int) -> dict[str, list[float]]:
    """Wall times of each generator's whole process, interleaved."""
    schemas = CASES[name]
    options = TypegenOptions(schemas=schemas)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "database.types.ts"
        ours = [sys.executable, "-m", "ctas7_panel", "schema", "typegen", "--db-url", url]
        ours += ["--schema", ",".join(schemas), "-o", str(out)]
        subprocess.run(ours, check=True)
        assert out.read_text() == golden(name, "0.99.0"), f"{name}: ours differs from golden"
        for version in reference.REFERENCE_VERSIONS:
            text = reference.run_reference(url, version, options)
            assert text == golden(name, version), f"{name}: postgres-meta {version} differs"
        times: dict[str, list[float]] = {"ours": [], "0.99.0": [], "0.98.0": []}
        rounds = max(runs, ref_runs)
        for i in range(rounds):  # ours spread evenly over the references' rounds
            for _ in range(runs * (i + 1) // rounds - runs * i // rounds):
                started = time.perf_counter()
                subprocess.run(ours, check=True)
                times["ours"].append(time.perf_counter() - started)
            if ref_runs * (i + 1) // rounds > ref_runs * i // rounds:
                for version in ("0.99.0", "0.98.0"):
                    started = time.perf_counter()
                    reference.run_reference(url, version, options)
                    times[version].append(time.perf_counter() - started)
    return times


DDLS = {  # one statement per run i; each changes the schema
    "comment": "comment on table public.tbl_0001 is 'bench {i}'",
    "add column": "alter table public.tbl_0002 add column bench_{i} int",
    "create index": "create index bench_{i} on public.tbl_0003 (id)",
}


def schema_hash(url: str, runs: int) -> dict[str, float]:
    options = TypegenOptions(schemas=("public",))
    out: dict[str, float] = {}
    with LibpqConnection(url) as conn:
        out["introspection, lean (typegen)"] = median_of(
            runs, lambda: introspect(conn, options, details=False)
        )
        out["introspection, full (snapshot)"] = median_of(runs, lambda: introspect(conn, options))
        catalog = introspect(conn, options)
        out["snapshot + sha256"] = median_of(runs, lambda: fingerprint(to_snapshot(catalog)))
        out["hash from scratch (read + snapshot + sha256)"] = median_of(
            runs, lambda: fingerprint(to_snapshot(introspect(conn, options)))
        )
        hasher = SchemaHasher(options)
        hasher.fingerprint(conn)
        out["hash, nothing changed (SchemaHasher)"] = median_of(
            runs, lambda: hasher.fingerprint(conn)
        )
        admin = pgtools.connect(url)
        all_times = []
        for label, ddl in DDLS.items():
            times = []
            for i in range(runs):
                admin.execute(ddl.format(i=i))
                full_before = hasher.full_reads
                started = time.perf_counter()
                hasher.fingerprint(conn)
                times.append(time.perf_counter() - started)
                assert hasher.full_reads == full_before, f"{label}: a full read"
            all_times += times
            out[f"hash right after a DDL ({label})"] = statistics.median(times)
        out["hash right after a DDL (all three)"] = statistics.median(all_times)
        scratch = fingerprint(to_snapshot(introspect(conn, options)))
        assert hasher.fingerprint(conn) == scratch, "incremental hash differs from scratch"
        admin.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of ours (default 5)")
    parser.add_argument("--ref-runs", type=int, default=3, help="runs of each reference")
    parser.add_argument("--admin-url", default=os.environ.get("CTAS7_TEST_DATABASE_URL"))
    args = parser.parse_args(argv)
    if not args.admin_url:
        print("set CTAS7_TEST_DATABASE_URL or pass --admin-url", file=sys.stderr)
        return 2
    ensure_references()
    compileall.compile_dir(str(ROOT / "ctas7_panel"), quiet=1)
    verdicts = []
    hashes: dict[str, float] = {}
    print(
        f"whole process, median (and min) of {args.runs} (ours) / {args.ref_runs} (references) "
        "runs, interleaved:"
    )
    for name in CASES:
        with pgtools.temporary_database(args.admin_url, prefix="ctas7_bench_") as url:
            print(f"loading {name} ...", file=sys.stderr)
            load_sql(url, FIXTURES / "schemas" / f"{name}.sql")
            pgtools.connect(url).execute("vacuum analyze")
            before = load()
            times = whole_process(url, name, args.runs, args.ref_runs)
            t = {label: statistics.median(values) for label, values in times.items()}
            best = {label: min(values) for label, values in times.items()}
            ratio = t["0.99.0"] / t["ours"]
            verdicts.append(ratio >= RATIO_GOAL)
            print(
                f"  {name:<11} ours {t['ours'] * 1000:6.0f} ms | postgres-meta 0.99.0 "
                f"{t['0.99.0'] * 1000:6.0f} ms ({ratio:4.1f}x) | 0.98.0 "
                f"{t['0.98.0'] * 1000:6.0f} ms ({t['0.98.0'] / t['ours']:4.1f}x) | goal >= "
                f"{RATIO_GOAL:.0f}x vs 0.99.0: {'ok' if ratio >= RATIO_GOAL else 'MISSED'} "
                f"| load {before} -> {load()}\n"
                f"  {'':<11} min: ours {best['ours'] * 1000:4.0f} ms | 0.99.0 "
                f"{best['0.99.0'] * 1000:6.0f} ms ({best['0.99.0'] / best['ours']:4.1f}x) | "
                f"0.98.0 {best['0.98.0'] * 1000:6.0f} ms ({best['0.98.0'] / best['ours']:4.1f}x)",
                flush=True,
            )
            if name == "big_1000":
                hashes = schema_hash(url, args.runs)
    print(f"schema hash on big_1000 (median of {args.runs}; seed goal < 50 ms; load {load()}):")
    for label, seconds in hashes.items():
        mark = ""
        if label.startswith("hash"):
            mark = "ok" if seconds < HASH_GOAL_S else "over 50 ms"
        print(f"  {label:<46} {seconds * 1000:8.1f} ms  {mark}")
    print(f"load average {load()} on {os.cpu_count()} cores")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
