"""The notebooks' generated histories do not pile up in the temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ctas7_panel.notebook import PREFIX, History, sweep_stale
from ctas7_panel.store import open_store


def test_folders_of_dead_kernels_are_swept_live_ones_kept(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    dead = tmp_path / f"{PREFIX}{gone}-abc"
    live = tmp_path / f"{PREFIX}{os.getpid()}-def"
    other = tmp_path / f"{PREFIX}oldlayout"
    for d in (dead, live, other):
        (d / "pg").mkdir(parents=True)
    assert sweep_stale(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and other.exists()


def test_closing_a_generated_history_deletes_its_folder(tmp_path: Path) -> None:
    home = tmp_path / f"{PREFIX}{os.getpid()}-x"
    home.mkdir()
    h = History(open_store(f"sqlite:///{home / 'events.db'}"), generated=True, seconds=1, home=home)
    frame = h.events()
    assert frame.empty and frame["timestamp"].dt.tz is None  # naive UTC
    with h:
        pass
    assert not home.exists()
    h.close()  # twice is fine
