"""Event store: append 100k events and load them back into pandas.

Goal (issue 2): ``load_events()`` of 100k rows < 1 s. Prints both times for SQLite (the
default) and, when ``CTAS7_TEST_DATABASE_URL`` is set, for PostgreSQL too.

    .venv/bin/python benchmarks/store.py [--events 100000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from ctas7_panel import pgtools
from ctas7_panel.events import Event
from ctas7_panel.store import open_store


def make(n: int) -> list[Event]:
    t0 = time.time() - n
    return [
        Event.create(
            "task_executed",
            {
                "task_id": f"t{i}",
                "name": "sync_nodes",
                "status": "succeeded",
                "duration_ms": 1.25 + i % 7,
                "rows": i % 50,
                "schema_hash": "ab" * 32,
            },
            source_node="legion",
            timestamp=t0 + i,
        )
        for i in range(n)
    ]


def run(url: str, events: list[Event], label: str) -> None:
    store = open_store(url)
    try:
        t = time.perf_counter()
        for i in range(0, len(events), 5000):
            store.append(events[i : i + 5000])
        append_s = time.perf_counter() - t
        store.load_events(limit=10)  # warm: pandas imported, caches filled
        t = time.perf_counter()
        df = store.load_events()
        load_s = time.perf_counter() - t
    finally:
        store.close()
    goal = "OK" if load_s < 1.0 else "MISSED"
    print(
        f"{label:10s} append {len(events):,}: {append_s:6.3f} s ({len(events) / append_s:,.0f}/s)"
        f"   load_events: {load_s:6.3f} s for {len(df):,} rows  (goal < 1 s: {goal}, "
        f"{1.0 / load_s:.1f}x under)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    events = make(args.events)
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/events.db", events, "sqlite")
    admin = os.environ.get("CTAS7_TEST_DATABASE_URL")
    if admin:
        with pgtools.temporary_database(admin, prefix="ctas7_bench_") as url:
            run(url, events, "postgres")


if __name__ == "__main__":
    main()
