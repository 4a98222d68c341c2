"""``ctas7 playwright init``: what to write into a Playwright project (pure) and writing it.

``plan(existing, assets, force=...)`` decides, file by file, from what is on disk: ``create``,
``overwrite`` (only with ``force``), ``unchanged`` (same bytes) or ``conflict`` (different bytes,
no ``force``: nothing is written at all). The JavaScript goes to ``ctas7/`` in the project; a
complete ``playwright.config.ts`` only when the folder has no Playwright config. ``init(dir)``
reads the folder, applies the plan with atomic writes and returns it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from ctas7_panel.errors import UsageError

FOLDER = "ctas7"
ASSETS = ("client.cjs", "index.cjs", "reporter.cjs", "schema-audit.setup.cjs")
CONFIG_TEMPLATE = "playwright.config.ts"
# the names Playwright looks for, in its order
CONFIG_NAMES = tuple(f"playwright.config.{ext}" for ext in ("ts", "js", "mts", "mjs", "cts", "cjs"))
SETUP_PROJECT = "CTAS7-SchemaAudit"
IMPORT_LINE = "import { withCtas7 } from './ctas7/index.cjs';"
EXPORT_LINE = "export default withCtas7(defineConfig({ ... }));"
NPM_SCRIPTS = {
    "test:ctas7": "playwright test",
    "test:all-devices": "playwright test --project=desktop --project=mobile --project=tablet",
    "test:schema-audit": f"playwright test --project={SETUP_PROJECT}",
    "test:ui": "playwright test --ui",
}

Action = Literal["create", "overwrite", "unchanged", "conflict"]


@dataclass(frozen=True, slots=True)
class FileAction:
    path: str  # relative to the project, '/'-separated
    content: bytes
    action: Action


@dataclass(frozen=True, slots=True)
class Plan:
    files: tuple[FileAction, ...]
    config: str | None  # the project's own Playwright config, when it has one
    wired: bool  # that config already calls withCtas7

    @property
    def conflicts(self) -> tuple[FileAction, ...]:
        return tuple(f for f in self.files if f.action == "conflict")

    @property
    def writes(self) -> tuple[FileAction, ...]:
        return tuple(f for f in self.files if f.action in {"create", "overwrite"})


def asset_bytes() -> dict[str, bytes]:
    """The shipped files: ``ctas7/<asset>`` and the config template, by project path."""
    root = resources.files("ctas7_panel.playwright") / "assets"
    out = {f"{FOLDER}/{name}": (root / name).read_bytes() for name in ASSETS}
    out[CONFIG_TEMPLATE] = (root / CONFIG_TEMPLATE).read_bytes()
    return out


def plan(
    existing: Mapping[str, bytes | None],
    assets: Mapping[str, bytes],
    *,
    force: bool = False,
) -> Plan:
    """Decide every file. ``existing`` maps project paths (the assets' and ``CONFIG_NAMES``)
    to their bytes, or None when absent."""
    config = next((name for name in CONFIG_NAMES if existing.get(name) is not None), None)
    files = []
    for path, content in assets.items():
        if path == CONFIG_TEMPLATE and config is not None:
            continue  # the project has its own config: it gets the two lines instead
        old = existing.get(path)
        action: Action
        if old is None:
            action = "create"
        elif old == content:
            action = "unchanged"
        else:
            action = "overwrite" if force else "conflict"
        files.append(FileAction(path, content, action))
    wired = config is not None and b"withCtas7" in (existing.get(config) or b"")
    return Plan(tuple(files), config, wired)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise UsageError(f"{path} is a folder: move it away to let ctas7 write that file") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc


def init(directory: str | Path, *, force: bool = False) -> Plan:
    """Scaffold into ``directory`` (created if missing). Raises ``UsageError`` on conflicts
    without ``force`` (then nothing is written) or when a file cannot be written."""
    from ctas7_panel.errors import Ctas7Error
    from ctas7_panel.schema.artifacts import atomic_write

    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} is not a folder: give the Playwright project's folder")
    if (root / FOLDER).exists() and not (root / FOLDER).is_dir():
        raise UsageError(f"{root / FOLDER} is a file: ctas7 needs that name for its folder")
    assets = asset_bytes()
    names = [*assets, *CONFIG_NAMES]
    the_plan = plan({name: _read(root / name) for name in names}, assets, force=force)
    if the_plan.conflicts:
        listed = ", ".join(f.path for f in the_plan.conflicts)
        raise UsageError(
            f"{listed} in {root} differ from what ctas7 writes: nothing was written "
            "(run again with --force to overwrite them)"
        )
    for f in the_plan.writes:
        try:
            atomic_write(root / f.path, f.content)
        except Ctas7Error as exc:
            raise UsageError(f"cannot write {root / f.path}: {exc}") from exc
    return the_plan


def has_playwright(directory: str | Path) -> bool:
    """Is ``@playwright/test`` installed in (or declared by) the project?"""
    root = Path(directory)
    if (root / "node_modules" / "@playwright" / "test" / "package.json").is_file():
        return True
    package = _read(root / "package.json") if (root / "package.json").is_file() else None
    return package is not None and b'"@playwright/test"' in package
