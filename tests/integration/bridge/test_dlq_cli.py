"""``ctas7 dlq replay``: assembled by the composition root, it delivers a dead letter to a real
remote receiver and marks it replayed; with the in-process bus it refuses letters that only a
bus reader in another process could take (it would deliver them into the void)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ctas7_panel import events as ev
from ctas7_panel.cli import main
from ctas7_panel.store import open_store

from .conftest import Receiver


def dead_letter(store_url: str, target: str) -> str:
    store = open_store(store_url)
    try:
        event = ev.qa5_validation(status="passed")
        store.add_dead_letter(event, target, "refused by the test")
        return event.event_id
    finally:
        store.close()


async def test_replay_forwards_to_a_remote_target_and_marks_it(
    receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    event_id = dead_letter(url, "legion")
    env = {"CTAS7_STORE_URL": url, "CTAS_LEGION_ENDPOINT": receiver.url}
    argv = ["dlq", "replay", "--forward", f"legion={receiver.url}"]
    assert await asyncio.to_thread(main, argv, env) == 0
    assert "replayed 1 dead letter" in capsys.readouterr().err
    assert list(receiver.applied) == [event_id]
    store = open_store(url)
    try:
        assert store.dead_letters() == []  # replayed ones are not listed by default
    finally:
        store.close()


def test_replay_on_the_memory_bus_refuses_bus_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    dead_letter(url, "dashboard")
    assert main(["dlq", "replay"], {"CTAS7_STORE_URL": url}) == 2
    err = capsys.readouterr().err
    assert "dead letters for dashboard are delivered on the bus" in err
    store = open_store(url)
    try:
        assert len(store.dead_letters()) == 1  # still there, not replayed
    finally:
        store.close()
