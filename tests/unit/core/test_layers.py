"""The import contract: each layer imports only from itself and the layers below it.

    contract   errors, events, settings, access, targetspec, ... (what every layer shares)
    base       schema/, graph/ (the schema graph), streams/, store, store_writer, embedded,
               pgtools, migrations
    bridge     bridge/
    consumers  legion/, mux/, graph/target (the bridge's graph target), testing/, demo
    runtime    runtime
    top        dashboard/, app, the command line (cli, every *_cli / */cli), notebook, mcp/,
               playwright/

and the backend (everything but the dashboard, ``app`` and ``serve_cli``) never imports Panel,
Bokeh or param. Every import counts, also one inside a function (a lazy import is still a
dependency); only ``if TYPE_CHECKING:`` blocks are left out (no import at run time). The
package's source is walked with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "ctas7_panel"
LAYERS = ("contract", "base", "bridge", "consumers", "runtime", "top")
UI_LIBRARIES = frozenset({"panel", "bokeh", "param"})
UI_MODULES = ("ctas7_panel.dashboard", "ctas7_panel.app", "ctas7_panel.serve_cli")

# first match wins; a prefix matches the module and everything below it
LAYER_OF: tuple[tuple[str, str], ...] = (
    ("ctas7_panel.schema.cli", "top"),
    ("ctas7_panel.schema.sync_cli", "top"),
    ("ctas7_panel.graph.cli", "top"),
    ("ctas7_panel.graph.impact_cli", "top"),
    ("ctas7_panel.graph.target", "consumers"),  # the bridge's graph target
    ("ctas7_panel.bridge.cli", "top"),
    ("ctas7_panel.testing.cli", "top"),
    ("ctas7_panel.errors", "contract"),
    ("ctas7_panel.events", "contract"),
    ("ctas7_panel.limits", "contract"),
    ("ctas7_panel.settings", "contract"),
    ("ctas7_panel.access", "contract"),
    ("ctas7_panel.logmask", "contract"),
    ("ctas7_panel.atomic", "contract"),
    ("ctas7_panel.netutil", "contract"),
    ("ctas7_panel.targetspec", "contract"),
    ("ctas7_panel.stats", "contract"),
    ("ctas7_panel.prometheus", "contract"),
    ("ctas7_panel.backoff", "contract"),
    ("ctas7_panel.gcpause", "contract"),
    ("ctas7_panel.lifecycle", "contract"),
    ("ctas7_panel.schema", "base"),
    ("ctas7_panel.streams", "base"),
    ("ctas7_panel.store_writer", "base"),
    ("ctas7_panel.store", "base"),
    ("ctas7_panel.embedded", "base"),
    ("ctas7_panel.pgtools", "base"),
    ("ctas7_panel.migrations", "base"),
    ("ctas7_panel.bridge", "bridge"),
    ("ctas7_panel.legion", "consumers"),
    ("ctas7_panel.mux", "consumers"),
    ("ctas7_panel.graph", "base"),  # the schema graph: model, facts, impact, the mirror
    ("ctas7_panel.testing", "consumers"),
    ("ctas7_panel.demo", "consumers"),
    ("ctas7_panel.runtime", "runtime"),
    ("ctas7_panel.dashboard", "top"),
    ("ctas7_panel.app", "top"),
    ("ctas7_panel.mcp", "top"),
    ("ctas7_panel.playwright", "top"),
    ("ctas7_panel.notebook", "top"),
    ("ctas7_panel.cli", "top"),
    ("ctas7_panel.__main__", "top"),
    ("ctas7_panel.serve_cli", "top"),
    ("ctas7_panel.db_cli", "top"),
    ("ctas7_panel.events_cli", "top"),
    ("ctas7_panel.notebooks_cli", "top"),
)
PACKAGE_ITSELF = "ctas7_panel"  # contract: __version__ and a lazy attribute (exact match only)

# Known exceptions, each with the reason it is still there (remove the row when it goes).
ALLOWED: frozenset[tuple[str, str]] = frozenset()  # none left


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports (a module, or module.name)
    line: int


def layer_of(module: str) -> str | None:
    if module in (PACKAGE_ITSELF, f"{PACKAGE_ITSELF}.__version__"):
        return "contract"
    for prefix, layer in LAYER_OF:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` without ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _type_checking_only(child):
            yield from (n for stmt in child.orelse for n in [stmt, *_walk(stmt)])
            continue
        yield child
        yield from _walk(child)


def imports_of(source: str, module: str, *, is_package: bool) -> Iterator[Import]:
    tree = ast.parse(source)
    for node in _walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                yield Import(module, f"{target}.{alias.name}", node.lineno)


def package_imports(package: Path) -> Iterator[Import]:
    for path in sorted(package.rglob("*.py")):
        if "demo_suite" in path.parts:  # the demo's own test suite, run as a separate project
            continue
        module = module_name(path, package)
        yield from imports_of(
            path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py"
        )


def violations(found: Iterator[Import], allowed: frozenset[tuple[str, str]] = ALLOWED) -> list[str]:
    out: list[str] = []
    for imp in found:
        here = layer_of(imp.module)
        if here is None:
            out.append(f"{imp.module}: no layer: add it to LAYER_OF")
            continue
        root = imp.target.split(".")[0]
        if root in UI_LIBRARIES and not imp.module.startswith(UI_MODULES):
            out.append(
                f"{imp.module}:{imp.line} imports {imp.target}: the backend never imports UI"
            )
        if root != "ctas7_panel":
            continue
        there = layer_of(imp.target)
        if there is None or LAYERS.index(there) <= LAYERS.index(here):
            continue
        target_module = next(
            (p for p, _ in LAYER_OF if imp.target == p or imp.target.startswith(p + ".")),
            imp.target,
        )
        if any(imp.module == a and imp.target.startswith(b) for a, b in allowed):
            continue
        out.append(
            f"{imp.module}:{imp.line} ({here}) imports {imp.target} ({there}, via "
            f"{target_module}): a layer imports only from itself and below"
        )
    return out


def test_the_package_keeps_its_layers() -> None:
    assert violations(package_imports(PACKAGE)) == []


def test_streams_depend_on_nothing_above_them() -> None:
    """The bus layer knows neither the router nor its consumers (the issue's first finding)."""
    above = ("ctas7_panel.bridge", "ctas7_panel.legion", "ctas7_panel.mux", "ctas7_panel.runtime")
    found = [
        f"{i.module} -> {i.target}"
        for i in package_imports(PACKAGE)
        if i.module.startswith("ctas7_panel.streams")
        and i.target.startswith(above)
        and (i.module, i.target.rsplit(".", 1)[0]) not in ALLOWED
    ]
    assert found == []


@pytest.mark.parametrize(
    ("module", "source", "message"),
    [
        (
            "ctas7_panel.streams.gateway",
            "from ctas7_panel.bridge.targets import BusTarget\n",
            "(base) imports ctas7_panel.bridge.targets.BusTarget (bridge",
        ),
        (
            "ctas7_panel.settings",
            "def f():\n    import ctas7_panel.runtime\n",
            "(contract) imports ctas7_panel.runtime (runtime",
        ),
        ("ctas7_panel.store", "import panel as pn\n", "the backend never imports UI"),
        (
            "ctas7_panel.bridge.routes",
            "from ..dashboard import records\n",
            "(bridge) imports ctas7_panel.dashboard.records (top",
        ),
        ("ctas7_panel.brand_new", "import os\n", "no layer: add it to LAYER_OF"),
    ],
)
def test_a_synthetic_violation_is_caught(module: str, source: str, message: str) -> None:
    """The contract can fail: each of these imports, planted in a module, is reported."""
    found = violations(imports_of(source, module, is_package=False))
    assert len(found) == 1 and message in found[0], found


def test_type_checking_imports_and_imports_downwards_are_fine() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from ctas7_panel.events import Event\n"
        "from ctas7_panel.streams.bus import Bus\n"
        "if TYPE_CHECKING:\n"
        "    from ctas7_panel.runtime import Services\n"
    )
    assert violations(imports_of(source, "ctas7_panel.bridge.bridge", is_package=False)) == []
