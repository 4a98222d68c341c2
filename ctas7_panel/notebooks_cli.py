"""``ctas7 notebooks``: JupyterLab on the analyst notebooks, with this project importable.

Runs ``python -m jupyterlab`` with the interpreter ``ctas7`` runs on (so the notebooks' default
Python kernel has ``ctas7_panel`` installed) on ``--dir`` (default: ``./notebooks`` when it
exists, else the ``notebooks/`` folder of the checkout the package was installed from). Binds
``CTAS7_BIND`` (127.0.0.1); as root it passes ``--allow-root``. Arguments after ``--`` go to
JupyterLab unchanged. Needs the ``notebooks`` extra (``pip install 'ctas7-panel[notebooks]'``
or ``bash scripts/bootstrap.sh notebooks``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ctas7_panel.errors import UsageError

if TYPE_CHECKING:
    from ctas7_panel.settings import Settings

INSTALL_HINT = (
    "pip install 'ctas7-panel[notebooks]' (in a checkout: bash scripts/bootstrap.sh notebooks)"
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "notebooks",
        help="open JupyterLab on the notebooks, with ctas7_panel importable",
        description="Start JupyterLab (on 127.0.0.1) on the analyst notebooks with this "
        "project's Python, so every notebook runs as is. Arguments after -- go to JupyterLab.",
    )
    parser.add_argument(
        "--dir",
        metavar="DIR",
        help="folder to open (default: ./notebooks, else the checkout's notebooks/)",
    )
    parser.add_argument("--port", type=int, metavar="P", help="port (default: JupyterLab's, 8888)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("jupyter_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(handler=cmd_notebooks)


def notebooks_dir(given: str | None, cwd: Path | None = None) -> Path:
    """The folder to open: ``given``, else ``./notebooks``, else the checkout's ``notebooks/``."""
    if given:
        path = Path(given).expanduser()
        if not path.is_dir():
            raise UsageError(f"--dir {given!r} is not a folder")
        return path.resolve()
    here = (cwd or Path.cwd()) / "notebooks"
    if here.is_dir():
        return here.resolve()
    checkout = Path(__file__).resolve().parent.parent / "notebooks"
    if checkout.is_dir():
        return checkout
    raise UsageError(
        "no notebooks folder here or next to the installed package: pass --dir DIR "
        "(the notebooks are in the repository's notebooks/)"
    )


def jupyter_command(
    folder: Path,
    *,
    bind: str,
    port: int | None = None,
    open_browser: bool = True,
    extra: Sequence[str] = (),
) -> list[str]:
    """The JupyterLab command line (pure)."""
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={folder}",
        f"--ServerApp.ip={bind}",
    ]
    if port is not None:
        argv.append(f"--ServerApp.port={port}")
    if not open_browser:
        argv.append("--no-browser")
    if os.name == "posix" and os.geteuid() == 0:
        argv.append("--allow-root")  # containers run as root; JupyterLab refuses without it
    argv.extend(a for a in extra if a != "--")
    return argv


def cmd_notebooks(args: argparse.Namespace, settings: Settings) -> int:
    if importlib.util.find_spec("jupyterlab") is None:
        raise UsageError(f"JupyterLab is not installed: {INSTALL_HINT}")
    folder = notebooks_dir(args.dir)
    argv = jupyter_command(
        folder,
        bind=settings.bind,
        port=args.port,
        open_browser=not args.no_browser,
        extra=args.jupyter_args,
    )
    print(f"ctas7: JupyterLab on {folder} (stop with Ctrl+C)", file=sys.stderr, flush=True)
    try:
        return subprocess.run(argv, check=False).returncode
    except KeyboardInterrupt:
        return 130
