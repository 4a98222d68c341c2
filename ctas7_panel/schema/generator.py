"""The external types generator (``CTAS7_TYPEGEN_COMMAND``): argv and the subprocess run.

``expand_command`` is pure (shell-like quoting, no shell; ``{db_url}``/``{project_id}`` filled);
``run_typegen_command`` runs it with a timeout and raises ``GeneratorError`` with the end of its
stderr when it fails.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping

from ctas7_panel.errors import SchemaError

STDERR_TAIL_CHARS = 2000


class GeneratorError(SchemaError):
    """The external generator command failed; ``stderr_tail`` holds the end of its stderr."""

    def __init__(self, message: str, *, stderr_tail: str = "", returncode: int | None = None):
        super().__init__(message)
        self.stderr_tail = stderr_tail
        self.returncode = returncode


def expand_command(command: str, *, db_url: str, project_id: str) -> list[str]:
    """Split the command (shell-like quoting, no shell) and fill ``{db_url}``/``{project_id}``."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise SchemaError(
            f"CTAS7_TYPEGEN_COMMAND={command!r} cannot be parsed: {exc} (check the quoting)"
        ) from exc
    if not argv:
        raise SchemaError("CTAS7_TYPEGEN_COMMAND is empty: give a command or unset it")
    return [a.replace("{db_url}", db_url).replace("{project_id}", project_id) for a in argv]


def run_typegen_command(
    command: str, *, db_url: str, project_id: str, timeout: float, env: Mapping[str, str]
) -> str:
    """Run the external generator; its stdout is the types file. Raises ``GeneratorError``."""
    argv = expand_command(command, db_url=db_url, project_id=project_id)
    child_env = {**env, "CTAS7_DATABASE_URL": db_url, "SUPABASE_PROJECT_ID": project_id}
    try:
        proc = subprocess.run(
            argv, capture_output=True, timeout=timeout, env=child_env, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError as exc:
        raise GeneratorError(
            f"typegen command {argv[0]!r} not found (check CTAS7_TYPEGEN_COMMAND and PATH)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        tail = _tail(exc.stderr)
        raise GeneratorError(
            f"typegen command {argv[0]!r} did not finish within {timeout:g} s", stderr_tail=tail
        ) from exc
    except OSError as exc:
        raise GeneratorError(f"typegen command {argv[0]!r} cannot run: {exc}") from exc
    tail = _tail(proc.stderr)
    if proc.returncode != 0:
        last = tail.strip().splitlines()[-1] if tail.strip() else "no stderr"
        raise GeneratorError(
            f"typegen command {argv[0]!r} exited with {proc.returncode}: {last}",
            stderr_tail=tail,
            returncode=proc.returncode,
        )
    try:
        text = proc.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GeneratorError(f"typegen command {argv[0]!r} printed non-UTF-8 output") from exc
    if not text.strip():
        raise GeneratorError(
            f"typegen command {argv[0]!r} printed nothing on stdout", stderr_tail=tail
        )
    return text


def _tail(data: bytes | str | None) -> str:
    if not data:
        return ""
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    return text[-STDERR_TAIL_CHARS:]
