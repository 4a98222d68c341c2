"""Supabase's own type generator (postgres-meta from npm), run as a test oracle.

``supabase gen types`` runs postgres-meta in its one-shot mode: ``dist/server/server.js``
with ``PG_META_GENERATE_TYPES=<language>`` prints the types for ``PG_META_DB_URL`` and exits.
The versions we compare against live side by side, each a small npm project with its own
``package.json`` and ``package-lock.json`` under ``tests/refgen/<version>/``:

- ``0.98.0`` with prettier pinned to 3.5.3 (``overrides``), which reproduces its docker image
  byte for byte;
- ``0.99.0`` with ``@supabase/postgrest-typegen`` 0.2.2 (formatted by oxfmt).

``run_reference(url, version, ...)`` runs one of them and returns what it printed.
``ReferenceServers`` does the same through one long-lived Node process per version
(``tests/refgen/driver.mjs``: the installed version's own ``getTypeOutput``, loaded once,
its settings derived from the same ``PG_META_*`` variables for each request), which saves
starting Node and loading the server for every output; a test checks that it prints what
the one-shot mode prints.
It installs nothing: when a version is missing it raises ``ReferenceNotInstalled`` naming the
command that installs it (``install_command``); tests, ``scripts/test.sh`` and the benchmark
run that command (``npm ci``, from the committed lock file) when they need it.
The generator itself stays our own: this module only compares.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import threading
from collections import deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from ctas7_panel.errors import SchemaError, UsageError
from ctas7_panel.schema.options import PG_META_VERSIONS, TypegenOptions

REFERENCE_VERSIONS: tuple[str, ...] = PG_META_VERSIONS
LANGUAGES: tuple[str, ...] = ("typescript", "python", "go", "swift")
SWIFT_ACCESS_CONTROLS: tuple[str, ...] = ("internal", "public")
DEFAULT_REFGEN_DIR = Path(__file__).resolve().parents[2] / "tests" / "refgen"
_ERROR_LINE = re.compile(r"^[A-Za-z]*Error(?: \[[A-Z_]+\])?: ")
_SERVER = Path("node_modules", "@supabase", "postgres-meta", "dist", "server", "server.js")
DRIVER = "driver.mjs"  # in the refgen folder, next to the version projects


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
    project = _require_installed(version, refgen_dir)
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


def _require_installed(version: str, refgen_dir: Path | None) -> Path:
    project = project_dir(version, refgen_dir)
    if not is_installed(version, refgen_dir):
        raise ReferenceNotInstalled(
            f"postgres-meta {version} is not installed in {project}: run "
            f"'cd {project} && {' '.join(install_command(version))}'"
        )
    return project


def _process_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """A driver's own environment: the one-shot one without the per-output settings."""
    env = environment("postgresql://localhost/postgres", TypegenOptions(), base=base)
    return {k: v for k, v in env.items() if not k.startswith("PG_META_")}


class ReferenceServer:
    """One version of Supabase's generator in one long-lived Node process.

    ``run`` has ``run_reference``'s contract (same output, same errors) and may be called
    from several threads at once; the driver generates concurrently. Start it with
    ``start()`` (or use it as a context manager), stop it with ``close()``.
    """

    def __init__(
        self, version: str, *, refgen_dir: Path | None = None, node: str | None = None
    ) -> None:
        self.version = _check_version(version)
        self._refgen_dir = refgen_dir
        self._node = node
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._stderr: deque[str] = deque(maxlen=200)
        self._ready: Future[dict[str, Any]] = Future()
        self._start_lock = threading.Lock()

    def __enter__(self) -> ReferenceServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, timeout: float = 120.0) -> None:
        """Start the process and wait until it has loaded the generator."""
        with self._start_lock:
            if self._proc is None:
                self._spawn(timeout)

    def _spawn(self, timeout: float) -> None:
        project = _require_installed(self.version, self._refgen_dir)
        node_path = self._node or shutil.which("node")
        if node_path is None:
            raise ReferenceError("node is not on PATH: install Node.js 20 to run postgres-meta")
        driver = (self._refgen_dir or DEFAULT_REFGEN_DIR) / DRIVER
        if not driver.is_file():
            driver = DEFAULT_REFGEN_DIR / DRIVER
        self._proc = subprocess.Popen(
            [node_path, str(driver), str(project)],
            cwd=project,
            env=_process_environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._ready = Future()
        assert self._proc.stdout is not None and self._proc.stderr is not None
        threading.Thread(target=self._read, args=(self._proc.stdout,), daemon=True).start()
        threading.Thread(target=self._drain, args=(self._proc.stderr,), daemon=True).start()
        try:
            self._ready.result(timeout=timeout)
        except FutureTimeout as exc:
            self._stop()
            raise ReferenceError(
                f"postgres-meta {self.version}'s driver did not start in {timeout:.0f} s"
            ) from exc
        except ReferenceError:
            self._stop()
            raise

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            try:
                message = json.loads(raw)
            except ValueError:
                self._stderr.append(raw.decode(errors="replace"))
                continue
            if message.get("ready"):
                self._ready.set_result(message)
                continue
            with self._lock:
                future = self._pending.pop(message.get("id"), None)
            if future is not None:
                future.set_result(message)
        self._fail_all()

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self._stderr.append(raw.decode(errors="replace"))

    def _fail_all(self) -> None:
        tail = "".join(self._stderr).strip()[-2000:]
        error = ReferenceError(
            f"postgres-meta {self.version}'s driver stopped" + (f": {tail}" if tail else "")
        )
        with self._lock:
            pending, self._pending = self._pending, {}
        if not self._ready.done():
            self._ready.set_exception(error)
        for future in pending.values():
            if not future.done():
                future.set_exception(error)

    def run(
        self,
        url: str,
        options: TypegenOptions,
        *,
        lang: str = "typescript",
        swift_access_control: str | None = None,
        timeout: float = 300.0,
    ) -> str:
        """What the one-shot mode would print for ``url`` (see ``run_reference``)."""
        env = environment(url, options, lang=lang, swift_access_control=swift_access_control)
        request_env = {k: v for k, v in env.items() if k.startswith("PG_META_")}
        self.start()
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            request_id = next(self._ids)
            self._pending[request_id] = future
            line = json.dumps({"id": request_id, "env": request_env}) + "\n"
            try:
                proc.stdin.write(line.encode())
                proc.stdin.flush()
            except OSError as exc:
                self._pending.pop(request_id, None)
                raise ReferenceError(
                    f"postgres-meta {self.version}'s driver is gone: {exc}"
                ) from exc
        try:
            answer = future.result(timeout=timeout)
        except FutureTimeout as exc:
            with self._lock:
                self._pending.pop(request_id, None)
            raise ReferenceError(
                f"postgres-meta {self.version} ({lang}) did not finish in {timeout:.0f} s"
            ) from exc
        stdout = str(answer.get("stdout") or "")
        if not answer.get("ok") or not stdout:
            raise ReferenceFailure(self.version, lang, 1, str(answer.get("stderr") or ""))
        return stdout

    def close(self) -> None:
        """End the process (it finishes the requests it has)."""
        with self._start_lock:
            self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()


class ReferenceServers:
    """A ``ReferenceServer`` per version, started on first use; ``run`` has
    ``run_reference``'s signature, so it can stand in for it."""

    def __init__(self, *, refgen_dir: Path | None = None, node: str | None = None) -> None:
        self._refgen_dir = refgen_dir
        self._node = node
        self._servers: dict[str, ReferenceServer] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> ReferenceServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def server(self, version: str) -> ReferenceServer:
        with self._lock:
            found = self._servers.get(version)
            if found is None:
                found = ReferenceServer(version, refgen_dir=self._refgen_dir, node=self._node)
                self._servers[version] = found
        found.start()
        return found

    def run(
        self,
        url: str,
        version: str,
        options: TypegenOptions,
        *,
        lang: str = "typescript",
        swift_access_control: str | None = None,
        timeout: float = 300.0,
    ) -> str:
        return self.server(version).run(
            url, options, lang=lang, swift_access_control=swift_access_control, timeout=timeout
        )

    def close(self) -> None:
        with self._lock:
            servers, self._servers = self._servers, {}
        for server in servers.values():
            server.close()


__all__ = [
    "LANGUAGES",
    "REFERENCE_VERSIONS",
    "ReferenceError",
    "ReferenceFailure",
    "ReferenceNotInstalled",
    "ReferenceServer",
    "ReferenceServers",
    "environment",
    "install_command",
    "installed_version",
    "is_installed",
    "project_dir",
    "run_reference",
]
