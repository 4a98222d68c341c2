"""The size budget on big_1000 (1,000 tables, 100 views): list_tables pages, nothing over
20,000 characters, the pages add up to every relation; the types file comes in pages that
concatenate to the generator's output byte for byte."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from ctas7_panel import pgtools
from ctas7_panel.mcp.budget import BUDGET

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
BIG = Path(__file__).resolve().parents[2] / "fixtures" / "typegen" / "schemas" / "big_1000.sql"


def load_big(url: str) -> None:
    statements = [s for s in re.split(r";\s*\n", BIG.read_text()) if s.strip()]
    for start in range(0, len(statements), 300):
        pgtools.apply_sql(url, ";\n".join(statements[start : start + 300]) + ";\n")


async def page_through(client: Client, name: str, args: dict[str, Any], field: str) -> list[Any]:
    items: list[Any] = []
    cursor = None
    pages = 0
    while True:
        result = await client.call_tool(name, {**args, "cursor": cursor} if cursor else args)
        assert not result.is_error, result.content
        text = result.content[0].text  # type: ignore[union-attr]
        assert len(text) <= BUDGET, f"{name} page {pages + 1}: {len(text)} characters"
        data = json.loads(text)
        items.extend(data[field])
        pages += 1
        cursor = data["next_cursor"]
        if cursor is None:
            return items
        assert pages < 500


async def test_big_1000_stays_within_the_budget(fresh_db_url: str, tmp_path: Path) -> None:
    load_big(fresh_db_url)
    env = {
        "CTAS7_DATABASE_URL": fresh_db_url,
        "CTAS7_HOME": str(tmp_path / "home"),
        "CTAS7_STORE_URL": f"sqlite:///{tmp_path}/events.db",
        "CTAS_SCHEMA_PATH": str(tmp_path / "types.ts"),
        "CTAS_HASH_CACHE_PATH": str(tmp_path / ".hash"),
        "PATH": "/usr/bin:/bin",
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "ctas7_panel", "mcp"], env=env
    )
    async with Client(params, read_timeout_seconds=120) as client:
        tables = await page_through(client, "list_tables", {}, "tables")
        assert len(tables) == 1100  # 1,000 tables and 100 views, each once
        assert len({(t["schema"], t["name"]) for t in tables}) == 1100
        detailed = await page_through(client, "list_tables", {"columns": True}, "tables")
        assert len(detailed) == 1100

        for lang in ("typescript", "python"):
            args = {"lang": lang, "schemas": ["public"]}
            first = await client.call_tool("generate_types", args)
            meta = json.loads(first.content[0].text)  # type: ignore[union-attr]
            assert meta["pages"] > 1
            text, cursor = meta["text"], meta["next_cursor"]
            while cursor:
                result = await client.call_tool("generate_types", {**args, "cursor": cursor})
                raw = result.content[0].text  # type: ignore[union-attr]
                assert len(raw) <= BUDGET
                page = json.loads(raw)
                text += page["text"]
                cursor = page["next_cursor"]
            assert hashlib.sha256(text.encode()).hexdigest() == meta["sha256"], lang
            assert len(text) == meta["total_chars"]

        # the resource pages a big file too, headed by a comment of the file's language
        body = (await client.read_resource("ctas7://schema/types/python")).contents[0].text  # type: ignore[union-attr]
        assert body.startswith("# ctas7: page 1 of ") and len(body) <= BUDGET

        # what dropping an enum breaks: every column of that type, and what uses them
        dependents = await page_through(
            client, "impact", {"target": "public.enum_01"}, "dependents"
        )
        assert dependents and {d["kind"] for d in dependents} >= {"column"}
        assert len({d["name"] for d in dependents}) == len(dependents)

        for uri in ("ctas7://schema/tables", "ctas7://schema/types/typescript"):
            body = (await client.read_resource(uri)).contents[0].text  # type: ignore[union-attr]
            assert len(body) <= BUDGET, uri
        for tool, args in (
            ("schema_status", {}),
            ("describe_table", {"schema": "public", "name": tables[0]["name"]}),
            ("audit", {}),
        ):
            body = (await client.call_tool(tool, args)).content[0].text  # type: ignore[union-attr]
            assert len(body) <= BUDGET, tool
