"""Helpers shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ctas7_panel import pgtools
from ctas7_panel.stats import quantile

ROOT = Path(__file__).resolve().parent.parent
BIG_CANDIDATES = [
    *sorted(ROOT.glob("tests/fixtures/**/big_1000.sql")),
    Path("/work/shared/typegen/schemas/big_1000.sql"),
]


def load_sql(url: str, path: Path) -> None:
    """Statement by statement (psql): big_1000 in one transaction exceeds the lock table."""
    psql = shutil.which("psql")
    if psql is None:
        pgtools.apply_sql(url, path.read_text())
        return
    subprocess.run(
        [psql, "-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (``ctas7_panel.stats``: the project's one definition)."""
    return quantile(sorted(values), q)


def verdict(value: float, goal: float) -> str:
    return f"OK, {goal / value:.1f}x under" if value <= goal else f"MISSED by {value / goal:.1f}x"
