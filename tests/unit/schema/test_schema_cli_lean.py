"""``ctas7 schema ...`` stays lean: no Panel, Bokeh, pandas or MCP SDK imported (checked in a
subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
from ctas7_panel.cli import main
try:
    main(["schema", "typegen", "--db-url", "postgresql://nobody@127.0.0.1:1/none"], {})
except SystemExit:
    pass
heavy = sorted(
    m for m in sys.modules
    if m.split(".")[0] in {"panel", "bokeh", "pandas", "param", "mcp", "mcp_types", "starlette"}
)
print(json.dumps(heavy))
"""


def test_schema_cli_imports_no_panel_bokeh_pandas_mcp() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    assert "cannot connect to postgresql://nobody@127.0.0.1:1/none" in result.stderr


def test_bad_url_exits_2_with_one_line() -> None:
    from ctas7_panel.cli import main

    assert main(["schema", "typegen", "--db-url", "mysql://x"], {}) == 2


FAST = """
import json, sys
from ctas7_panel.cli import main
from ctas7_panel.schema import pqlite
main(["schema", "typegen", "--db-url", "postgresql://nobody@127.0.0.1:1/none"], {})
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"psycopg", "asyncio", "hypothesis"})
print(json.dumps({"libpq": pqlite.load() is not None, "loaded": loaded,
                  "sync": "ctas7_panel.schema.sync_cli" in sys.modules}))
"""


def test_typegen_fast_path_imports_neither_psycopg_nor_asyncio() -> None:
    """With libpq on the machine, ``ctas7 schema typegen`` reads the catalog over plain libpq
    and parses only its own command line: psycopg, asyncio and the other commands stay out."""
    result = subprocess.run(
        [sys.executable, "-c", FAST], capture_output=True, text=True, timeout=60
    )
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["libpq"], "libpq not found: neither the system's nor psycopg[binary]'s copy"
    assert seen == {"libpq": True, "loaded": [], "sync": False}
    assert "cannot connect to postgresql://nobody@127.0.0.1:1/none" in result.stderr
