"""``ctas7 playwright init``: the pure plan and the command on real folders (tmp_path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ctas7_panel.cli import main
from ctas7_panel.playwright import scaffold

ASSETS = scaffold.asset_bytes()
JS = [f"ctas7/{name}" for name in scaffold.ASSETS]


def test_plan_creates_everything_in_an_empty_folder() -> None:
    plan = scaffold.plan({}, ASSETS)
    assert [(f.path, f.action) for f in plan.files] == [
        *[(p, "create") for p in JS],
        ("playwright.config.ts", "create"),
    ]
    assert plan.config is None and not plan.conflicts


@pytest.mark.parametrize("config", scaffold.CONFIG_NAMES)
def test_plan_never_writes_a_config_next_to_the_projects_own(config: str) -> None:
    plan = scaffold.plan({config: b"export default {}"}, ASSETS, force=True)
    assert "playwright.config.ts" not in [f.path for f in plan.files]
    assert plan.config == config and not plan.wired
    wired = scaffold.plan({config: b"export default withCtas7({})"}, ASSETS)
    assert wired.wired


def test_plan_same_bytes_are_unchanged_other_bytes_conflict_unless_forced() -> None:
    existing: dict[str, bytes | None] = {
        JS[0]: ASSETS[JS[0]],
        JS[1]: b"// edited by hand\n",
    }
    plan = scaffold.plan(existing, ASSETS)
    actions = {f.path: f.action for f in plan.files}
    assert actions[JS[0]] == "unchanged" and actions[JS[1]] == "conflict"
    assert [f.path for f in plan.conflicts] == [JS[1]]
    forced = {f.path: f.action for f in scaffold.plan(existing, ASSETS, force=True).files}
    assert forced[JS[1]] == "overwrite" and forced[JS[0]] == "unchanged"


def test_the_shipped_files_are_plain_javascript_without_packages() -> None:
    for path in JS:
        text = ASSETS[path].decode()
        required = {
            line.split("require(")[1].split(")")[0].strip("'\"")
            for line in text.splitlines()
            if "require(" in line and not line.lstrip().startswith("//")
        }
        allowed = {"./client.cjs", "@playwright/test"}
        assert all(r.startswith("node:") or r in allowed for r in required), (path, required)
    assert b"@playwright/test" not in ASSETS["ctas7/reporter.cjs"]  # a reporter needs nothing


def test_init_writes_prints_the_two_lines_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "playwright.config.ts").write_text("export default defineConfig({});\n")
    assert main(["playwright", "init", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert scaffold.IMPORT_LINE in out and scaffold.EXPORT_LINE in out
    assert "Add these two lines to playwright.config.ts" in out
    assert "npm i -D @playwright/test" in out  # nothing installed here
    for path in JS:
        assert (tmp_path / path).read_bytes() == ASSETS[path]
        assert f"wrote      {path}" in out
    for script in ("test:ctas7", "test:all-devices", "test:schema-audit"):
        assert f'"{script}": "{scaffold.NPM_SCRIPTS[script]}"' in out
    assert (tmp_path / "playwright.config.ts").read_text() == "export default defineConfig({});\n"

    edited = tmp_path / "ctas7" / "reporter.cjs"
    edited.write_text("// mine\n")
    assert main(["playwright", "init", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "ctas7/reporter.cjs" in err and "--force" in err and "nothing was written" in err
    assert edited.read_text() == "// mine\n"

    assert main(["playwright", "init", str(tmp_path), "--force"]) == 0
    out = capsys.readouterr().out
    assert "overwrote  ctas7/reporter.cjs" in out and "unchanged  ctas7/index.cjs" in out
    assert edited.read_bytes() == ASSETS["ctas7/reporter.cjs"]


def test_init_in_a_new_folder_writes_a_complete_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "new" / "suite"
    (tmp_path / "new").mkdir()
    old = Path.cwd()
    os.chdir(tmp_path / "new")
    try:
        assert main(["playwright", "init", "suite"]) == 0
    finally:
        os.chdir(old)
    out = capsys.readouterr().out
    config = (target / "playwright.config.ts").read_text()
    assert "withCtas7(" in config and "./ctas7/index.cjs" in config
    for needle in ("CTAS_BASE", "CTAS7_CHROMIUM", "/usr/bin/chromium", "'desktop'", "'mobile'"):
        assert needle in config
    assert "'tablet'" in config and "executablePath" in config
    assert "Add these two lines" not in out  # the config it wrote has them
    assert main(["playwright", "init", str(target)]) == 0
    assert "already uses withCtas7" in capsys.readouterr().out


def test_init_refuses_a_file_where_a_folder_must_be(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ctas7").write_text("")
    assert main(["playwright", "init", str(tmp_path)]) == 2
    assert "is a file" in capsys.readouterr().err
    not_dir = tmp_path / "f"
    not_dir.write_text("")
    assert main(["playwright", "init", str(not_dir)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_playwright_without_a_subcommand_shows_its_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["playwright"]) == 2
    assert "init" in capsys.readouterr().err
