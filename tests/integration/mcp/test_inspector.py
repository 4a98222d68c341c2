"""A client nobody here wrote: the MCP Inspector's CLI mode (npm
``@modelcontextprotocol/inspector``, installed by ``npm ci`` from package-lock.json) lists the
tools and resources of ``ctas7 mcp`` and calls ``schema_status``, over stdio and over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[3]
INSPECTOR = ROOT / "node_modules" / ".bin" / "mcp-inspector"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture
def inspector() -> Path:
    if not INSPECTOR.exists() or shutil.which("node") is None:
        reason = "the MCP Inspector is not installed: run `npm ci` (scripts/test.sh does)"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return INSPECTOR


def run(inspector: Path, target: list[str], *args: str, env: dict[str, str]) -> Any:
    done = subprocess.run(
        [str(inspector), "--cli", *args, *target],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return json.loads(done.stdout[done.stdout.index("{") :])


def server_env_args(mcp_env: dict[str, str]) -> list[str]:
    """The server's environment as the Inspector's -e KEY=VALUE flags."""
    out: list[str] = []
    for key, value in mcp_env.items():
        if key.startswith(("CTAS7_", "CTAS_")):
            out += ["-e", f"{key}={value}"]
    return out


def inspector_env(mcp_env: dict[str, str]) -> dict[str, str]:
    """The Inspector keeps a catalog under HOME: keep it in the test's directory."""
    home = mcp_env["CTAS7_HOME"]
    return {**os.environ, "HOME": home, "MCP_CATALOG_PATH": f"{home}/inspector-catalog.json"}


def test_inspector_cli_against_stdio(inspector: Path, mcp_env: dict[str, str]) -> None:
    env = {
        **os.environ,
        "HOME": mcp_env["CTAS7_HOME"],
        "MCP_CATALOG_PATH": mcp_env["CTAS7_HOME"] + "/c.json",
    }
    target = [*server_env_args(mcp_env), "--", sys.executable, "-m", "ctas7_panel", "mcp"]
    tools = run(inspector, target, "--method", "tools/list", env=env)
    names = {t["name"] for t in tools["tools"]}
    assert {"schema_status", "list_tables", "query_events", "audit"} <= names
    resources = run(inspector, target, "--method", "resources/list", env=env)
    assert "ctas7://schema/status" in {r["uri"] for r in resources["resources"]}
    called = run(
        inspector, target, "--method", "tools/call", "--tool-name", "schema_status", env=env
    )
    status = json.loads(called["content"][0]["text"])
    assert status["table_count"] == 7 and len(status["current_hash"]) == 64
    assert called.get("structuredContent", status)["current_hash"] == status["current_hash"]


def test_inspector_cli_against_http(
    inspector: Path, http_server: Any, mcp_env: dict[str, str]
) -> None:
    env = {
        **os.environ,
        "HOME": mcp_env["CTAS7_HOME"],
        "MCP_CATALOG_PATH": mcp_env["CTAS7_HOME"] + "/c.json",
    }
    target = ["--transport", "http", "--server-url", http_server.url]
    tools = run(inspector, target, "--method", "tools/list", env=env)
    assert "describe_table" in {t["name"] for t in tools["tools"]}
    called = run(
        inspector,
        target,
        "--method",
        "tools/call",
        "--tool-name",
        "list_tables",
        "--tool-arg",
        "match=task",
        env=env,
    )
    tables = json.loads(called["content"][0]["text"])
    assert [t["name"] for t in tables["tables"]] == ["task_executions", "tasks"]
