"""The ctas7 command line: emit, events tail/export; user errors exit 2 with one line."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import orjson
import pandas as pd
import pytest

from ctas7_panel import cli
from ctas7_panel.cli import main


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CTAS7_STORE_URL": f"sqlite:///{tmp_path}/events.db"}


def feed(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_emit_bad_event_type_exits_2_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str]
) -> None:
    feed(monkeypatch, b'{"event_type": 5}')
    assert main(["emit", "-"], env) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "event_type" in err and "Traceback" not in err


def test_emit_refuses_10_mib_naming_the_limit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str]
) -> None:
    doc = {"event_type": "ping", "payload": {"blob": "x" * (10 * 1024 * 1024)}}
    feed(monkeypatch, orjson.dumps(doc))
    assert main(["emit", "-"], env) == 2
    assert "limit of 262,144 bytes" in capsys.readouterr().err


def test_emit_tail_and_export(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    lines = b"\n".join(
        orjson.dumps({"event_type": t, "payload": {"status": "passed", "n": i}})
        for i, t in enumerate(["qa5_validation", "ping", "qa5_validation"])
    )
    feed(monkeypatch, lines)
    assert main(["emit", "-"], env) == 0
    ids = capsys.readouterr().out.split()
    assert len(ids) == 3

    assert main(["events", "tail", "--no-follow", "--type", "qa5_validation"], env) == 0
    tailed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["payload"]["n"] for e in tailed] == [0, 2]
    assert {e["source_node"] for e in tailed} == {"cli"}

    for fmt in ("csv", "jsonl", "parquet"):
        out = tmp_path / f"events.{fmt}"
        assert main(["events", "export", "--format", fmt, "-o", str(out)], env) == 0
    jsonl = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["event_id"] for e in jsonl] == ids
    csv = pd.read_csv(tmp_path / "events.csv")
    assert list(csv["event_type"]) == ["qa5_validation", "ping", "qa5_validation"]
    parquet = pd.read_parquet(tmp_path / "events.parquet")
    assert json.loads(parquet["payload"].iloc[1]) == {"status": "passed", "n": 1}


def test_emit_missing_file_and_bad_config(
    capsys: pytest.CaptureFixture[str], env: dict[str, str]
) -> None:
    assert main(["emit", "/no/such/file.json"], env) == 2
    assert "cannot read /no/such/file.json" in capsys.readouterr().err
    assert main(["events", "tail", "--no-follow"], {"CTAS7_STORE_URL": "mysql://x"}) == 2
    assert "CTAS7_STORE_URL" in capsys.readouterr().err


def test_real_process_pipe(tmp_path: Path) -> None:
    """The exact shell pipe of the issue, through the installed entry point."""
    proc = subprocess.run(
        [sys.executable, "-m", "ctas7_panel", "emit", "-"],
        input=b'{"event_type": 5}',
        capture_output=True,
        env={"CTAS7_STORE_URL": f"sqlite:///{tmp_path}/e.db", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.returncode == 2
    assert b"event_type" in proc.stderr and b"Traceback" not in proc.stderr


PROBE = """
import logging, sys
from ctas7_panel.cli import main
code = main(sys.argv[1:])
print(logging.getLogger().level, logging.getLogger("websockets").level, code)
"""


@pytest.mark.parametrize("level", ["DEBUG", "ERROR"])
def test_every_command_logs_at_ctas7_log_level(env: dict[str, str], level: str) -> None:
    """cli.main configures logging once, before any handler: any command honours it."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, "events", "tail", "--no-follow"],
        capture_output=True,
        text=True,
        env={**env, "CTAS7_LOG_LEVEL": level, "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    root, websockets, code = (int(w) for w in proc.stdout.split()[-3:])
    assert code == 0, proc.stderr
    assert root == getattr(logging, level)
    assert websockets == (logging.NOTSET if level == "DEBUG" else logging.WARNING)


def test_a_missing_command_module_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command module listed but absent fails loudly instead of dropping its commands."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "ctas7_panel.no_such_cli"))
    with pytest.raises(ModuleNotFoundError, match="no_such_cli"):
        cli.build_parser()
