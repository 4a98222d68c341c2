"""The dashboard reached from another machine: refused without credentials, served with them.

``panel serve ctas7_panel/app.py --address 0.0.0.0`` (the user's flag, as in the issue), and
Chromium on "another machine": inside a network namespace joined to this one by a veth pair
that the test creates (root; removed in a finalizer). Where a namespace cannot be created, the
same browser runs here against a server started with ``--use-xheaders`` and sends
``X-Real-Ip: 10.231.0.2``, so the app's decision is still driven through Panel's request with a
non-loopback remote address; the test records which of the two ran (``remote_client``
property, and a line on stdout). ``CTAS7_TEST_REMOTE=xheaders`` runs the fallback on purpose.

About 40 s: two servers and two browsers, because the promise is about real sessions.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from ctas7_panel.access import session_cookie
from tests.browser import access_probe
from tests.browser.conftest import ROOT, DashboardServer, start_server, stop_server

pytestmark = pytest.mark.browser
READ = "dash-read-token-5d1e7a2b"
ADMIN = "dash-admin-token-c04f9e61"
TOKENS = {"CTAS7_TOKEN": READ, "CTAS7_ADMIN_TOKEN": ADMIN}


@dataclass
class Remote:
    """How the test reaches the server from a non-loopback address."""

    kind: str  # "netns" or "xheaders"
    host: str  # the address the remote browser connects to
    run: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    server_args: tuple[str, ...]
    headers: dict[str, str]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


@pytest.fixture(scope="module")
def remote() -> Iterator[Remote]:
    tag = f"{os.getpid() % 10000}{random.randrange(100)}"
    ns, host_if, ns_if = f"ctas7t{tag}", f"c7h{tag}", f"c7n{tag}"
    net = f"10.231.{random.randrange(1, 250)}"
    created = False
    try:
        if os.environ.get("CTAS7_TEST_REMOTE") == "xheaders":  # exercise the fallback on purpose
            raise OSError("CTAS7_TEST_REMOTE=xheaders")
        _ip("netns", "add", ns)
        created = True
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", ns)
        _ip("addr", "add", f"{net}.1/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", ns, "addr", "add", f"{net}.2/30", "dev", ns_if)
        _ip("-n", ns, "link", "set", ns_if, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or str(exc)
        print(f"remote client: no network namespace ({detail!r}); using X-Real-Ip")
        if created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        yield Remote(
            "xheaders",
            "127.0.0.1",
            access_probe.observe,
            ("--use-xheaders",),
            {"X-Real-Ip": f"{net}.2"},
        )
        return

    def in_namespace(scenarios: list[dict[str, Any]]) -> list[dict[str, Any]]:
        probe = [sys.executable, "-m", "tests.browser.access_probe"]
        proc = subprocess.run(
            ["ip", "netns", "exec", ns, *probe, orjson.dumps(scenarios).decode()],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        result: list[dict[str, Any]] = orjson.loads(proc.stdout.strip().splitlines()[-1])
        return result

    try:
        print(f"remote client: network namespace {ns}, browser at {net}.2")
        yield Remote("netns", f"{net}.1", in_namespace, (), {})
    finally:
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        for pid in pids.stdout.split():  # only processes this test started in its namespace
            subprocess.run(["kill", "-9", pid], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=20)


def serve(remote: Remote, env: dict[str, str]) -> tuple[DashboardServer, str, str]:
    """``panel serve`` on every interface; returns the server, its local and remote URLs."""
    home = Path(tempfile.mkdtemp(prefix="ctas7-access-"))
    args = ("--address", "0.0.0.0", "--allow-websocket-origin", "*", *remote.server_args)
    server = start_server(home, extra_env=env, extra_args=args)
    port = server.url.rsplit(":", 1)[1].split("/")[0]
    return server, server.url, f"http://{remote.host}:{port}/app"


@pytest.fixture
def with_tokens(remote: Remote) -> Iterator[tuple[str, str]]:
    server, local, far = serve(remote, TOKENS)
    try:
        yield local, far
    finally:
        stop_server(server)
        shutil.rmtree(server.home, ignore_errors=True)


@pytest.fixture
def without_tokens(remote: Remote) -> Iterator[tuple[str, str]]:
    server, local, far = serve(remote, {})
    try:
        yield local, far
    finally:
        stop_server(server)
        shutil.rmtree(server.home, ignore_errors=True)


def test_tokens_configured_remote_sessions_need_one(
    remote: Remote, with_tokens: tuple[str, str], record_property: Any
) -> None:
    record_property("remote_client", remote.kind)
    local, far = with_tokens
    h = remote.headers
    bare, header_read, form_admin, header_wrong = remote.run(
        [
            {"url": far, "headers": h},
            {"url": far, "headers": {**h, "Authorization": f"Bearer {READ}"}},
            {"url": far, "headers": h, "sign_in": ["not-the-token-at-all", ADMIN]},
            {"url": far, "headers": {**h, "Authorization": f"Bearer {READ}x"}},
        ]
    )
    assert bare["access"] == "login" and not bare["dashboard"] and not bare["replay"]
    assert header_read["dashboard"] and not header_read["replay"]  # read: no replay button
    assert form_admin["messages"] == ["wrong", "ok"]
    assert form_admin["dashboard"] and form_admin["replay"]
    cookie = form_admin["cookies"]["ctas7_session"]
    assert cookie == session_cookie(ADMIN) and ADMIN not in cookie  # never the token itself
    assert header_wrong["access"] == "login" and not header_wrong["dashboard"]
    # with tokens configured this machine needs one too (a local proxy would look loopback)
    [here] = access_probe.observe([{"url": local}])
    assert here["access"] == "login" and not here["dashboard"]


def test_no_access_control_refuses_other_machines_and_serves_this_one(
    remote: Remote, without_tokens: tuple[str, str], record_property: Any
) -> None:
    record_property("remote_client", remote.kind)
    local, far = without_tokens
    [there] = remote.run([{"url": far, "headers": remote.headers}])
    assert there["access"] == "refused" and not there["dashboard"] and not there["replay"]
    [here] = access_probe.observe([{"url": local}])
    assert here["access"] is None and here["dashboard"] and here["replay"]  # as before roles
