"""``ctas7 schema sync`` and ``ctas7 schema install-trigger`` through ``cli.main``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from ctas7_panel.cli import main
from ctas7_panel.netutil import free_port
from ctas7_panel.schema import trigger
from ctas7_panel.store import open_store


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return {"CTAS7_STORE_URL": f"sqlite:///{tmp_path / 'events.db'}", "CTAS7_BUS_URL": "memory://"}


def sync_args(url: str, paths: Any) -> list[str]:
    return [
        "schema",
        "sync",
        "--db-url",
        url,
        "--schema-path",
        str(paths.types),
        "--hash-cache",
        str(paths.cache),
    ]


def test_sync_prints_the_event_and_matches_typegen(
    core_db_url: str,
    paths: Any,
    environ: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert main(sync_args(core_db_url, paths), environ) == 0
    first = orjson.loads(capsys.readouterr().out)
    assert first["event_type"] == "schema_updated"
    assert first["payload"]["schema_path"] == str(paths.types)

    assert main(sync_args(core_db_url, paths), environ) == 0
    second = orjson.loads(capsys.readouterr().out)
    assert second["event_type"] == "schema_nochange"

    assert main(["schema", "typegen", "--db-url", core_db_url], environ) == 0
    assert paths.types.read_text() == capsys.readouterr().out

    store = open_store(environ["CTAS7_STORE_URL"])
    stored = [e.event_id for _, e in store.fetch()]
    store.close()
    assert stored == [first["event_id"], second["event_id"]]


def test_sync_settings_come_from_the_seed_variables(
    core_db_url: str, paths: Any, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    env = {
        **environ,
        "CTAS7_DATABASE_URL": core_db_url,
        "CTAS_SCHEMA_PATH": str(paths.types),
        "CTAS_HASH_CACHE_PATH": str(paths.cache),
    }
    assert main(["schema", "sync"], env) == 0
    event = orjson.loads(capsys.readouterr().out)
    assert paths.cache.read_text() == event["payload"]["new_hash"]
    assert paths.types.exists()


def test_sync_error_exits_1_with_the_event(
    paths: Any, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/gone"
    assert main(sync_args(url, paths), environ) == 1
    event = orjson.loads(capsys.readouterr().out)
    assert event["event_type"] == "schema_error"
    assert event["payload"]["stage"] == "connect"


def test_bad_db_url_is_a_usage_error(
    paths: Any, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(sync_args("mysql://x/y", paths), environ) == 2
    assert "--db-url" in capsys.readouterr().err


def test_install_trigger_twice_then_uninstall(
    core_db_url: str, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", "install-trigger", "--db-url", core_db_url], environ) == 0
    assert main(["schema", "install-trigger", "--db-url", core_db_url], environ) == 0
    assert trigger.installed(core_db_url)
    assert "ctas7_schema" in capsys.readouterr().err
    assert main(["schema", "install-trigger", "--uninstall", "--db-url", core_db_url], environ) == 0
    assert not trigger.installed(core_db_url)
