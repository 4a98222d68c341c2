"""``ctas7 notebooks``: which folder it opens and the JupyterLab command line (pure parts)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ctas7_panel.errors import UsageError
from ctas7_panel.notebooks_cli import jupyter_command, notebooks_dir

CHECKOUT = Path(__file__).resolve().parents[3] / "notebooks"


def test_folder_choice(tmp_path: Path) -> None:
    assert notebooks_dir(None, cwd=tmp_path) == CHECKOUT  # none here: the checkout's
    (tmp_path / "notebooks").mkdir()
    assert notebooks_dir(None, cwd=tmp_path) == tmp_path / "notebooks"  # ./notebooks first
    assert notebooks_dir(str(tmp_path)) == tmp_path
    with pytest.raises(UsageError, match="is not a folder"):
        notebooks_dir(str(tmp_path / "nope"))


def test_command_uses_this_python_and_binds_loopback() -> None:
    argv = jupyter_command(CHECKOUT, bind="127.0.0.1", port=8899, open_browser=False,
                           extra=["--", "--IdentityProvider.token=x"])  # fmt: skip
    assert argv[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={CHECKOUT}" in argv
    assert "--ServerApp.ip=127.0.0.1" in argv and "--ServerApp.port=8899" in argv
    assert "--no-browser" in argv and argv[-1] == "--IdentityProvider.token=x"
    assert "--" not in argv
