"""Regenerating the types file keeps what the file is: a 0444 file, a symlink to elsewhere."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import Any

from ctas7_panel.schema.sync import SchemaSyncNode


async def test_a_read_only_types_file_stays_read_only(
    core_db_url: str, paths: Any, sql: Callable[..., None]
) -> None:
    paths.types.parent.mkdir(parents=True)
    paths.types.write_text("// stale\n")
    paths.types.chmod(0o444)
    async with SchemaSyncNode(paths.config(core_db_url)) as node:
        first = await node.sync()
        assert first.event_type == "schema_updated" and first.payload["types_written"]
        assert "export type Database" in paths.types.read_text()
        assert stat.S_IMODE(os.stat(paths.types).st_mode) == 0o444
        sql(core_db_url, "ALTER TABLE public.tasks ADD COLUMN readonly_probe text")
        second = await node.sync()
        assert second.payload["types_written"]
        assert "readonly_probe" in paths.types.read_text()
        assert stat.S_IMODE(os.stat(paths.types).st_mode) == 0o444


async def test_a_symlinked_types_file_stays_a_symlink(
    core_db_url: str, paths: Any, tmp_path: Any, sql: Callable[..., None]
) -> None:
    shared = tmp_path / "shared" / "types"
    shared.mkdir(parents=True)
    real = shared / "supabase_schema.ts"
    real.write_text("// stale\n")
    paths.types.parent.mkdir(parents=True)
    paths.types.symlink_to(real)
    async with SchemaSyncNode(paths.config(core_db_url)) as node:
        await node.sync()
        sql(core_db_url, "ALTER TABLE public.tasks ADD COLUMN symlink_probe text")
        second = await node.sync()
        assert second.event_type == "schema_updated" and second.payload["types_written"]
    assert paths.types.is_symlink() and os.readlink(paths.types) == str(real)
    assert "symlink_probe" in real.read_text()
    assert sorted(p.name for p in shared.iterdir()) == ["supabase_schema.ts"]
    assert sorted(p.name for p in paths.types.parent.iterdir()) == ["supabase_schema.ts"]
