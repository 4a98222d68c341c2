"""Supabase's own type generator (postgres-meta from npm), run as a test oracle.

``supabase gen types`` runs postgres-meta in its one-shot mode: ``dist/server/server.js``
with ``PG_META_GENERATE_TYPES=<language>`` prints the types for ``PG_META_DB_URL`` and exits.
The versions we compare against live side by side, each a small npm project with its own
``package.json`` and ``package-lock.json`` under ``tests/refgen/<version>/``:

- ``0.98.0`` with prettier pinned to 3.5.3 (``overrides``), which reproduces its docker image
  byte for byte;
- ``0.99.0`` with ``@supabase/postgrest-typegen`` 0.2.2 (formatted by oxfmt).

``run_reference(url, version, ...)`` runs one of them and returns what it printed.
It installs nothing: when a version is missing it raises ``ReferenceNotInstalled`` naming the
command that installs it (``install_command``); tests, ``scripts/test.sh`` and the benchmark
run that command (``npm ci``, from the committed lock file) when they need it.
The generator itself stays our own: this module only compares.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ctas7_panel.errors import SchemaError, UsageError
from ctas7_panel.schema.options import PG_META_VERSIONS, TypegenOptions

REFERENCE_VERSIONS: tuple[str, ...] = PG_META_VERSIONS
LANGUAGES: tuple[str, ...] = ("typescript", "python", "go", "swift")
SWIFT_ACCESS_CONTROLS: tuple[str, ...] = ("internal", "public")
DEFAULT_REFGEN_DIR = Path(__file__).resolve().parents[2] / "tests" / "refgen"
_ERROR_LINE = re.compile(r"^[A-Za-z]*Error(?: \[[A-Z_]+\])?: ")
_SERVER = Path("node_modules", "@supabase", "postgres-meta", "dist", "server", "server.js")


class ReferenceError(SchemaError):
    """Supabase's generator could not be run, or failed on this database."""


class ReferenceNotInstalled(ReferenceError):
    """The npm project of a reference version has not been installed (``npm ci``)."""


class ReferenceFailure(ReferenceError):
    """The generator ran and exited non-zero or printed nothing (it crashes on some schemas).

    ``message`` is the first line of its stderr that looks like an error (``TypeError: ...``).
    """

    def __init__(self, version: str, lang: str, returncode: int, stderr: str) -> None:
        self.version = version
        self.lang = lang
        self.returncode = returncode
        self.stderr = stderr
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        errors = [line for line in lines if _ERROR_LINE.match(line)]
        self.message = (errors or lines or ["(no message)"])[0]
        super().__init__(
            f"postgres-meta {version} ({lang}) exited {returncode} without output: {self.message}"
        )


def _check_version(version: str) -> str:
    if version not in REFERENCE_VERSIONS:
        raise UsageError(
            f"unknown postgres-meta version {version!r}: use one of {', '.join(REFERENCE_VERSIONS)}"
        )
    return version


def project_dir(version: str, refgen_dir: Path | None = None) -> Path:
    """The npm project of ``version`` (``tests/refgen/<version>``)."""
    return (refgen_dir or DEFAULT_REFGEN_DIR) / _check_version(version)


def installed_version(version: str, refgen_dir: Path | None = None) -> str | None:
    """The postgres-meta version installed in ``version``'s project, or ``None``."""
    manifest = project_dir(version, refgen_dir) / _SERVER.parents[2] / "package.json"
    try:
        found = json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
    return str(found)


def is_installed(version: str, refgen_dir: Path | None = None) -> bool:
    """Whether ``npm ci`` has installed ``version`` (and that very version) in its project."""
    project = project_dir(version, refgen_dir)
    return installed_version(version, refgen_dir) == version and (project / _SERVER).is_file()


def install_command(version: str) -> list[str]:
    """The command that installs ``version`` from its lock file (run it in ``project_dir``)."""
    _check_version(version)
    return ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"]


def node_url(url: str) -> str:
    """``url`` in a form Node's URL parser accepts: a Unix-socket URL without a host name
    (``postgresql://u@/db?host=/tmp/x``) gets ``localhost``, which the ``host`` parameter
    then overrides in node-postgres."""
    parts = urlsplit(url)
    if parts.hostname:
        return url
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@localhost" if user else "localhost"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def environment(
    url: str,
    options: TypegenOptions,
    *,
    lang: str = "typescript",
    swift_access_control: str | None = None,
    base: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a one-shot run, as the Supabase CLI sets it up for ``options``.

    ``LANG=C.UTF-8``: the generator sorts with ``localeCompare`` in the process locale, and
    that is the ICU root order the goldens were made with.
    """
    if lang not in LANGUAGES:
        raise UsageError(f"unknown language {lang!r}: use one of {', '.join(LANGUAGES)}")
    if swift_access_control is not None and swift_access_control not in SWIFT_ACCESS_CONTROLS:
        raise UsageError(
            f"unknown swift access control {swift_access_control!r}: use internal or public"
        )
    env = {k: v for k, v in (base if base is not None else os.environ).items()}
    for key in list(env):
        if key.startswith("PG_META_") or key.startswith("LC_"):
            del env[key]
    env.update(
        LANG="C.UTF-8",
        PG_META_DB_URL=node_url(url),
        PG_META_GENERATE_TYPES=lang,
        PG_META_GENERATE_TYPES_DETECT_ONE_TO_ONE_RELATIONSHIPS=(
            "true" if options.detect_one_to_one else "false"
        ),
    )
    if options.schemas is not None:
        env["PG_META_GENERATE_TYPES_INCLUDED_SCHEMAS"] = ",".join(options.schemas)
    if options.postgrest_version is not None:
        env["PG_META_POSTGREST_VERSION"] = options.postgrest_version
    if swift_access_control is not None:
        env["PG_META_GENERATE_TYPES_SWIFT_ACCESS_CONTROL"] = swift_access_control
    return env


def run_reference(
    url: str,
    version: str,
    options: TypegenOptions,
    *,
    lang: str = "typescript",
    swift_access_control: str | None = None,
    refgen_dir: Path | None = None,
    node: str | None = None,
    timeout: float = 300.0,
) -> str:
    """What postgres-meta ``version`` prints for the database at ``url``, byte for byte.

    Raises ``ReferenceNotInstalled`` when the version's npm project is not installed (the
    message gives the command), ``ReferenceFailure`` when the generator exits non-zero or
    prints nothing (it crashes on some schemas), ``ReferenceError`` when node is missing or
    the run times out.
    """
    project = project_dir(version, refgen_dir)
    if not is_installed(version, refgen_dir):
        raise ReferenceNotInstalled(
            f"postgres-meta {version} is not installed in {project}: run "
            f"'cd {project} && {' '.join(install_command(version))}'"
        )
    node_path = node or shutil.which("node")
    if node_path is None:
        raise ReferenceError("node is not on PATH: install Node.js 20 to run postgres-meta")
    env = environment(url, options, lang=lang, swift_access_control=swift_access_control)
    try:
        done = subprocess.run(
            [node_path, str(project / _SERVER)],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ReferenceError(
            f"postgres-meta {version} ({lang}) did not finish in {timeout:.0f} s"
        ) from exc
    stdout = done.stdout.decode()
    if done.returncode != 0 or not stdout:
        raise ReferenceFailure(version, lang, done.returncode, done.stderr.decode(errors="replace"))
    return stdout


__all__ = [
    "LANGUAGES",
    "REFERENCE_VERSIONS",
    "ReferenceError",
    "ReferenceFailure",
    "ReferenceNotInstalled",
    "environment",
    "install_command",
    "installed_version",
    "is_installed",
    "project_dir",
    "run_reference",
]
