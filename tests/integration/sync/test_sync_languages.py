"""Several languages kept in step (``CTAS7_TYPES``) by the sync node and the audit."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ctas7_panel import pgtools
from ctas7_panel.errors import ConfigError, SchemaError, UsageError
from ctas7_panel.schema.introspect import introspect
from ctas7_panel.schema.languages import generate
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.sync import SchemaSyncNode, SyncConfig
from ctas7_panel.settings import Settings
from ctas7_panel.testing.audit import REGENERATED, VERIFIED, audit

LANGS = ("typescript", "python", "go", "swift")
SUFFIX = {"typescript": "ts", "python": "py", "go": "go", "swift": "swift"}


def outputs(root: Path) -> tuple[tuple[str, str], ...]:
    return tuple((lang, str(root / "types" / f"db.{SUFFIX[lang]}")) for lang in LANGS)


def expected_texts(url: str) -> dict[str, str]:
    options = TypegenOptions()
    with pgtools.connect(url) as conn:
        catalog = introspect(conn, options, type_list=True)
    return {lang: generate(lang, catalog, options) for lang in LANGS}


def sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read(path: str | Path) -> str:
    return Path(path).read_text()


def raw(path: str | Path) -> bytes:
    return Path(path).read_bytes()


def write(path: str | Path, text: str) -> None:
    Path(path).write_text(text)


def config(url: str, root: Path, **kw: Any) -> SyncConfig:
    return SyncConfig(
        db_url=url, hash_cache_path=str(root / ".last_schema_hash"), types=outputs(root), **kw
    )


async def test_every_language_written_hashed_restored_and_updated(
    core_db_url: str, tmp_path: Path, sql: Callable[..., None]
) -> None:
    files = dict(outputs(tmp_path))
    async with SchemaSyncNode(config(core_db_url, tmp_path)) as node:
        assert node.config.schema_path == files["typescript"]  # the first is the seed's file
        first = await node.sync()
        p = first.payload
        assert first.event_type == "schema_updated"
        texts = expected_texts(core_db_url)
        for lang, path in files.items():
            assert read(path) == texts[lang], lang
        assert p["types_hashes"] == {path: sha(path) for path in files.values()}
        assert p["types_hash"] == sha(files["typescript"]) and p["types_written"] is True
        assert p["schema_path"] == files["typescript"]
        assert p["types_written_paths"] == list(files.values())

        second = await node.sync()
        assert second.event_type == "schema_nochange"
        assert second.payload["types_hashes"] == p["types_hashes"]

        await asyncio.to_thread(Path(files["python"]).unlink)
        restored = await node.sync()
        assert restored.event_type == "schema_artifact_modified"
        assert restored.payload == {
            "path": files["python"],
            "change": "deleted",
            "restored": True,
            "trigger": "manual",
        }
        assert read(files["python"]) == texts["python"]

        write(files["go"], "package hacked\n")
        write(files["swift"], "// edited by hand\n")
        restored = await node.sync()
        assert restored.payload["path"] == files["go"]
        assert restored.payload["change"] == "modified"
        assert restored.payload["paths"] == [files["go"], files["swift"]]
        assert read(files["swift"]) == texts["swift"]

        sql(core_db_url, "ALTER TABLE public.tasks ADD COLUMN review_note text")
        changed = await node.sync()
        assert changed.event_type == "schema_updated"
        assert changed.payload["types_written_paths"] == list(files.values())
        assert "review_note" in read(files["python"])
        assert "ReviewNote" in read(files["go"])
        assert changed.payload["types_hashes"] == {path: sha(path) for path in files.values()}

        sql(core_db_url, "CREATE INDEX tasks_review_note_idx ON public.tasks (review_note)")
        indexed = await node.sync()
        assert indexed.event_type == "schema_updated"  # the schema changed, the types did not
        assert indexed.payload["types_written_paths"] == []
        assert indexed.payload["types_written"] is False
        assert indexed.payload["types_hashes"] == changed.payload["types_hashes"]


async def test_adding_a_language_regenerates_and_the_seed_default_is_unchanged(
    core_db_url: str, tmp_path: Path
) -> None:
    ts = str(tmp_path / "types" / "db.ts")
    cache = str(tmp_path / ".last_schema_hash")
    async with SchemaSyncNode(
        SyncConfig(db_url=core_db_url, schema_path=ts, hash_cache_path=cache)
    ) as node:
        alone = await node.sync()
        assert node.config.generator_id == "builtin"  # as before CTAS7_TYPES existed
        assert alone.payload["types_hashes"] == {ts: sha(ts)}
    py = str(tmp_path / "types" / "db.py")
    more = SyncConfig(
        db_url=core_db_url, hash_cache_path=cache, types=(("typescript", ts), ("python", py))
    )
    async with SchemaSyncNode(more) as node:
        event = await node.sync()
        assert event.event_type == "schema_updated"
        assert event.payload["reason"] == "generator changed"
        assert event.payload["types_written_paths"] == [py]  # the TypeScript was already right
        assert (await node.sync()).event_type == "schema_nochange"


def test_bad_lists_are_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match="lang:path"):
        Settings.from_env({"CTAS7_TYPES": "rust:./x.rs"})
    with pytest.raises(SchemaError, match="listed twice"):
        SyncConfig(db_url="postgresql://x/y", types=(("go", "a"), ("python", "a")))
    settings = Settings.from_env({"CTAS7_TYPES": "python:./a.py,typescript:./b.ts"})
    cfg = SyncConfig.from_settings(settings, "postgresql://x/y")
    assert cfg.schema_path == "./a.py" and cfg.languages == ("python", "typescript")
    with pytest.raises(UsageError, match="--schema-path and CTAS7_TYPES"):
        SyncConfig.from_settings(settings, "postgresql://x/y", schema_path="./c.ts")


FAKE_TS = 'import sys\nprint("// from the external generator")\n'


async def test_external_generator_makes_the_typescript_only(
    core_db_url: str, tmp_path: Path
) -> None:
    script = tmp_path / "gen.py"
    script.write_text(FAKE_TS)
    cfg = config(core_db_url, tmp_path, typegen_command=f"{sys.executable} {script}")
    files = dict(outputs(tmp_path))
    async with SchemaSyncNode(cfg) as node:
        event = await node.sync()
    assert event.event_type == "schema_updated"
    assert read(files["typescript"]) == "// from the external generator\n"
    assert read(files["python"]) == expected_texts(core_db_url)["python"]


CRASHING_SYNC = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path
    from ctas7_panel.schema import artifacts
    from ctas7_panel.schema.sync import SchemaSyncNode, SyncConfig

    target, url, cache, *pairs = sys.argv[1:]

    def crash(tmp, dest):
        if Path(dest).resolve() == Path(target).resolve():
            os._exit(9)  # dies between the temp file and the rename

    artifacts.set_crash_hook(crash)
    types = tuple(tuple(p.split("=", 1)) for p in pairs)
    config = SyncConfig(db_url=url, hash_cache_path=cache, types=types)
    asyncio.run(SchemaSyncNode(config).sync())
    sys.exit(0)
    """
)


async def test_a_crash_between_two_types_files_is_healed_by_the_next_pass(
    core_db_url: str, tmp_path: Path, sql: Callable[..., None]
) -> None:
    files = dict(outputs(tmp_path))
    async with SchemaSyncNode(config(core_db_url, tmp_path)) as node:
        await node.sync()
    cache = tmp_path / ".last_schema_hash"
    before = {path: raw(path) for path in [*files.values(), str(cache)]}
    sql(core_db_url, "ALTER TABLE public.tasks ADD COLUMN review_note text")
    argv = [sys.executable, "-c", CRASHING_SYNC, files["go"], core_db_url, str(cache)]
    argv += [f"{lang}={path}" for lang, path in outputs(tmp_path)]
    proc = await asyncio.to_thread(subprocess.run, argv, capture_output=True, timeout=120)
    assert proc.returncode == 9, proc.stderr.decode()
    # the files before the crash are new, the ones from it on are the old ones, the hash
    # cache (the commit mark) is the old one: no file is half written
    assert raw(files["python"]) != before[files["python"]]
    assert raw(files["go"]) == before[files["go"]]
    assert raw(cache) == before[str(cache)]
    async with SchemaSyncNode(config(core_db_url, tmp_path)) as node:
        healed = await node.sync()
        assert (
            healed.event_type == "schema_updated" and healed.payload["reason"] == "schema changed"
        )
        assert (await node.sync()).event_type == "schema_nochange"
    texts = expected_texts(core_db_url)
    assert all(read(path) == texts[lang] for lang, path in files.items())
    assert await asyncio.to_thread(leftovers, tmp_path / "types") == []  # the crash's temp file


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_audit_keeps_every_language(core_db_url: str, tmp_path: Path) -> None:
    files = dict(outputs(tmp_path))
    spec = ",".join(f"{lang}:{path}" for lang, path in files.items())
    settings = Settings.from_env(
        {"CTAS7_TYPES": spec, "CTAS_HASH_CACHE_PATH": str(tmp_path / ".last_schema_hash")}
    )
    first = audit(settings, db_url=core_db_url, report_path=None)
    assert first.status == REGENERATED
    assert first.events[0].payload["types_hashes"] == {p: sha(p) for p in files.values()}
    again = audit(settings, db_url=core_db_url, report_path=None)
    assert again.status == VERIFIED and again.fast_path
    assert again.events[0].payload["types_hashes"] == first.events[0].payload["types_hashes"]
    write(files["swift"], "// edited\n")  # the fast path must notice any file
    edited = audit(settings, db_url=core_db_url, report_path=None)
    assert edited.status == REGENERATED and not edited.fast_path
    assert edited.reason == "types file modified"
    assert read(files["swift"]) == expected_texts(core_db_url)["swift"]
    assert audit(settings, db_url=core_db_url, report_path=None).status == VERIFIED
