"""``ctas7 events export`` writes through the one atomic writer: every format, and an existing
file keeps its mode and stays a symlink."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
import pandas as pd
import pytest

from ctas7_panel import events as ev
from ctas7_panel.cli import main
from ctas7_panel.store import open_store


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_replaces_a_linked_read_only_file_keeping_both(tmp_path: Path, fmt: str) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    store = open_store(url)
    sent = [ev.qa5_validation(status="valid", n=i) for i in range(3)]
    store.append(sent)
    store.close()
    real = tmp_path / "exports" / f"history.{fmt}"
    real.parent.mkdir()
    real.write_bytes(b"old")
    real.chmod(0o440)
    link = tmp_path / f"latest.{fmt}"
    link.symlink_to(real)
    code = main(["events", "export", "--format", fmt, "-o", str(link)], {"CTAS7_STORE_URL": url})
    assert code == 0
    assert link.is_symlink() and stat.S_IMODE(os.stat(real).st_mode) == 0o440
    assert sorted(p.name for p in real.parent.iterdir()) == [real.name]  # no temp file left
    if fmt == "csv":
        ids = list(pd.read_csv(real)["event_id"])
    elif fmt == "jsonl":
        ids = [orjson.loads(line)["event_id"] for line in real.read_bytes().splitlines()]
    else:
        ids = list(pd.read_parquet(real)["event_id"])
    assert ids == [e.event_id for e in sent]
