"""``ctas7 playwright init [DIR] [--force]``: the reporter and the audit setup project for a
Playwright (Node) suite, which then needs two lines in ``playwright.config.ts``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ctas7_panel.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ctas7_panel.cli import needs_subcommand

    group = sub.add_parser(
        "playwright",
        help="Playwright (Node) suites: live results and the schema audit as a setup project",
        description="Tools for Playwright test suites written in JavaScript/TypeScript.",
    )
    needs_subcommand(group)
    cmds = group.add_subparsers(dest="playwright_command", metavar="COMMAND")
    init = cmds.add_parser(
        "init",
        help="write the ctas7 reporter and the CTAS7-SchemaAudit setup project into a project",
        description="Write ctas7/ (a reporter that streams test results to the bridge live, "
        "and a CTAS7-SchemaAudit setup project running `ctas7 audit`) into a Playwright "
        "project, and a complete playwright.config.ts when it has none. Files that exist "
        "with other content are never overwritten without --force. Prints what it wrote and "
        "the two lines to add to an existing playwright.config.ts.",
    )
    init.add_argument("dir", nargs="?", default=".", metavar="DIR", help="project (default .)")
    init.add_argument("--force", action="store_true", help="overwrite files that differ")
    init.set_defaults(handler=cmd_init)


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from ctas7_panel.playwright import scaffold

    root = Path(args.dir)
    plan = scaffold.init(root, force=args.force)
    out = sys.stdout
    out.write(f"ctas7 playwright init: {root.resolve()}\n")
    verbs = {"create": "wrote", "overwrite": "overwrote", "unchanged": "unchanged"}
    for f in plan.files:
        out.write(f"  {verbs[f.action]:<10} {f.path}\n")
    if plan.config is None:
        out.write(
            f"\n{scaffold.CONFIG_TEMPLATE} runs the {scaffold.SETUP_PROJECT} setup project, then "
            "desktop, mobile and tablet (baseURL from CTAS_BASE, Chromium from CTAS7_CHROMIUM or "
            "/usr/bin/chromium), with the ctas7 reporter.\n"
        )
    elif plan.wired:
        out.write(f"\n{plan.config} already uses withCtas7: nothing to add.\n")
    else:
        out.write(
            f"\nAdd these two lines to {plan.config} (wrap the config you have):\n\n"
            f"  {scaffold.IMPORT_LINE}\n  {scaffold.EXPORT_LINE}\n"
        )
    out.write("\nnpm scripts, for example:\n")
    for name, command in scaffold.NPM_SCRIPTS.items():
        out.write(f'  "{name}": "{command}",\n')
    out.write(
        "\nResults go live to CTAS7_BRIDGE_URL (default ws://127.0.0.1:8002/telemetry_bridge); "
        "when the bridge is down the run goes on and the events wait in CTAS7_HOME/spill for "
        "`ctas7 ingest FILE`.\n"
    )
    if not scaffold.has_playwright(root):
        out.write("\nnote: @playwright/test is not installed here: npm i -D @playwright/test\n")
    return 0
