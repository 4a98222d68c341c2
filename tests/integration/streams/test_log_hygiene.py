"""No log line contains a token: the gateway tests run again at DEBUG, every line is grepped.

Slow on purpose (a second pytest over both gateway test files, about 20 s): the issue asks for
exactly this run, and it is what catches a new third-party log line carrying a credential. The
ten-thousand-frames test is left out: it carries no token, takes a minute at DEBUG (50,000 log
lines) and its flat-memory check cannot hold while pytest keeps every DEBUG record.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.integration.streams import test_gateway, test_gateway_roles

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
TOKENS = (test_gateway.TOKEN, test_gateway_roles.READ, test_gateway_roles.ADMIN)


def test_a_debug_run_of_the_gateway_tests_logs_no_token(tmp_path: Path) -> None:
    log_file = tmp_path / "debug.log"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(HERE / "test_gateway.py"),
            str(HERE / "test_gateway_roles.py"),
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "not ten_thousand",
            f"--log-file={log_file}",
            "--log-file-level=DEBUG",
            "--log-file-format=%(name)s %(levelname)s %(message)s",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = log_file.read_text(errors="replace").splitlines()
    leaks = [line for line in lines if any(t in line for t in TOKENS)]
    assert not leaks, f"{len(leaks)} log lines contain a token, e.g. {leaks[:3]}"
    # the run did log what used to leak: websockets' request lines and headers, masked
    assert any(line.startswith("websockets.") and "token=***" in line for line in lines)
    assert any("Authorization: Bearer ***" in line for line in lines)
    assert len(lines) > 500
