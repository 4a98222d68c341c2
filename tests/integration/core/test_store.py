"""The event store on SQLite and on real PostgreSQL: append, dedup, load, dead letters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from ctas7_panel.errors import ConfigError, StoreError
from ctas7_panel.events import Event
from ctas7_panel.store import EventStore, open_store
from ctas7_panel.store_writer import StoreWriter


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path}/events.db")
    else:
        s = open_store(request.getfixturevalue("fresh_db_url"))
    yield s
    s.close()


def make(n: int, etype: str = "ping", source: str = "a", t0: float = 1000.0) -> list[Event]:
    return [
        Event.create(etype, {"i": i, "nested": {"x": [i]}}, source_node=source, timestamp=t0 + i)
        for i in range(n)
    ]


def test_append_is_idempotent_by_event_id(store: EventStore) -> None:
    batch = make(5)
    assert store.append(batch) == 5
    assert store.append(batch[2:] + make(1, t0=2000)) == 1
    assert store.count() == 6


def test_load_events_types_and_filters(store: EventStore) -> None:
    store.append(make(5, "ping", "a") + make(3, "pong", "b", t0=1100))
    df = store.load_events()
    assert list(df.columns) == [
        "seq",
        "event_id",
        "event_type",
        "timestamp",
        "source_node",
        "payload",
    ]
    assert isinstance(df["timestamp"].dtype, pd.DatetimeTZDtype)
    assert str(df["timestamp"].dt.tz) == "UTC"
    assert df["event_type"].dtype == "string"
    assert df["payload"].iloc[0] == {"i": 0, "nested": {"x": [0]}}
    assert df["timestamp"].iloc[0] == pd.Timestamp(1000, unit="s", tz="UTC")
    assert len(store.load_events(types=["pong"])) == 3
    assert len(store.load_events(sources=["a"], since=1002, until=1004)) == 2
    newest = store.load_events(limit=2)
    assert list(newest["payload"].map(lambda p: p["i"])) == [1, 2]  # the last two, oldest first
    assert store.load_events(types=["nothing"]).empty


def test_fetch_after_seq_follows_new_events(store: EventStore) -> None:
    store.append(make(3))
    ((last_seq, _),) = store.fetch(limit=1)
    store.append(make(2, t0=5000))
    assert [e.timestamp for _, e in store.fetch(after_seq=last_seq)] == [5000.0, 5001.0]


def test_dead_letters_upsert_and_replay(store: EventStore) -> None:
    e1, e2 = make(2)
    first = store.add_dead_letter(e1, "legion", "connection refused", attempts=5, now=10.0)
    again = store.add_dead_letter(e1, "legion", "timeout", attempts=5, now=20.0)
    assert first == again
    store.add_dead_letter(e2, "dashboard", "closed", now=30.0)
    (dl,) = store.dead_letters(target="legion")
    assert (dl.event, dl.reason, dl.attempts) == (e1, "timeout", 10)
    assert (dl.first_failure, dl.last_failure) == (10.0, 20.0)
    store.mark_replayed([dl.id], now=40.0)
    assert [d.target for d in store.dead_letters()] == ["dashboard"]
    (replayed,) = store.dead_letters(target="legion", include_replayed=True)
    assert replayed.replayed_at == 40.0


async def test_store_writer_batches_and_flushes_on_close(store: EventStore) -> None:
    writer = StoreWriter(store, batch=7)
    await writer.start()
    events = make(50)
    futures = [await writer.write(events[i : i + 5]) for i in range(0, 50, 5)]
    await writer.close()
    assert all(f.done() and not f.cancelled() for f in futures)
    assert store.count() == 50 and writer.written == 50


def test_bad_urls_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CTAS7_STORE_URL"):
        open_store("mysql://x")
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"corrupt\.db"):
        open_store(f"sqlite:///{bad}")


def test_a_dead_letter_with_a_bad_payload_still_lists(store: EventStore) -> None:
    bad = Event("evt_bad", "schema_updated", 1.0, "x", {"ui_action": "transformed"})
    good = make(1)[0]
    store.add_dead_letter(bad, "dashboard", "transform failed")
    store.add_dead_letter(good, "dashboard", "down")
    assert [d.event.event_id for d in store.dead_letters()] == ["evt_bad", good.event_id]


def test_fetch_pages_back_with_before_seq(store: EventStore) -> None:
    for i in range(5):  # one append each: the order of rows inside one batch is the store's
        store.append([Event.create("mcp_probe", {"n": i}, source_node="t")])
    newest = store.fetch(limit=2)
    assert [e.payload["n"] for _, e in newest] == [3, 4]
    older = store.fetch(limit=2, before_seq=newest[0][0])
    assert [e.payload["n"] for _, e in older] == [1, 2]
    assert [e.payload["n"] for _, e in store.fetch(before_seq=older[0][0])] == [0]
