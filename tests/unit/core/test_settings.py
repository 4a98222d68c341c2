"""Settings: the seed's names and defaults, clear errors, secrets hidden, README table complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ctas7_panel.errors import ConfigError
from ctas7_panel.settings import VARIABLES, Settings

ROOT = Path(__file__).resolve().parents[3]


def test_defaults_are_the_seeds() -> None:
    s = Settings.from_env({})
    assert s.schema_path == "./database/supabase_schema.ts"
    assert s.hash_cache_path == "./.last_schema_hash"
    assert s.supabase_project_id == "ctas7-command-center"
    assert s.base_url == "http://localhost:3000"
    assert s.database_url is None
    assert s.bus_url == "memory://"
    assert s.store_url == "sqlite:///./.ctas7/events.db"
    assert s.bind == "127.0.0.1"
    assert s.max_event_bytes == 256 * 1024
    assert s.schema_audit_enabled is False


def test_environment_and_overrides() -> None:
    env = {
        "CTAS7_DATABASE_URL": "postgresql://u:secret@db/app",
        "PLAYWRIGHT_SCHEMA_AUDIT_ENABLED": "true",
        "CTAS7_BUS_URL": "redis://127.0.0.1:6379/0",
        "CTAS_SCHEMA_PATH": "./types/db.ts",
    }
    s = Settings.from_env(env, schema_path="./other.ts", database_url=None)
    assert s.schema_audit_enabled is True
    assert s.schema_path == "./other.ts"  # a flag wins
    assert s.database_url == "postgresql://u:secret@db/app"  # None override = not given
    assert "secret" not in repr(s)


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("CTAS7_BUS_URL", "kafka://x", "memory://"),
        ("CTAS7_STORE_URL", "mysql://x", "sqlite://"),
        ("CTAS7_DATABASE_URL", "localhost:5432", "postgresql://"),
        ("PLAYWRIGHT_SCHEMA_AUDIT_ENABLED", "maybe", "true/false"),
        ("CTAS7_MAX_EVENT_BYTES", "-4", "positive whole number"),
        ("CTAS7_POLL_INTERVAL", "soon", "positive number"),
        ("CTAS7_BIND", "my host", "IP address"),
        ("CTAS_LEGION_ENDPOINT", "http://x", "ws://"),
    ],
)
def test_bad_values_name_the_variable_and_the_accepted_forms(
    name: str, value: str, accepted: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert name in str(info.value) and accepted in str(info.value)


def test_binding_beyond_loopback_requires_a_token() -> None:
    with pytest.raises(ConfigError, match="CTAS7_TOKEN"):
        Settings.from_env({"CTAS7_BIND": "0.0.0.0"})
    token = "t0k-" + "x" * 16
    s = Settings.from_env({"CTAS7_BIND": "0.0.0.0", "CTAS7_TOKEN": token})
    assert token not in repr(s)


def test_readme_lists_every_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", readme, flags=re.M))
    assert {v.name for v in VARIABLES} <= rows


def test_clients_follow_a_single_port_gateway() -> None:
    """With CTAS7_GATEWAY_PORT, the plugin/audit/ingest default ingress is on that port."""
    s = Settings.from_env({"CTAS7_GATEWAY_PORT": "9123"})
    assert s.bridge_url == "ws://127.0.0.1:9123/telemetry_bridge"
    explicit = "ws://10.0.0.5:8002/telemetry_bridge"
    assert (
        Settings.from_env({"CTAS7_GATEWAY_PORT": "9123", "CTAS7_BRIDGE_URL": explicit}).bridge_url
        == explicit
    )
    assert Settings.from_env({"CTAS7_GATEWAY_PORT": "0"}).bridge_url.endswith(
        ":8002/telemetry_bridge"
    )
    assert Settings.from_env({}).bridge_url == "ws://127.0.0.1:8002/telemetry_bridge"
