"""``SyncConfig``: everything a Schema Sync Node (and ``ctas7 audit``) needs. Pure.

Built once at the entry point with ``SyncConfig.from_settings(settings, db_url, **flags)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctas7_panel.errors import SchemaError, UsageError
from ctas7_panel.schema import artifacts

if TYPE_CHECKING:
    from ctas7_panel.settings import Settings


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """Everything a Schema Sync Node needs. Build with ``SyncConfig.from_settings``."""

    db_url: str = field(repr=False)
    schema_path: str = "./database/supabase_schema.ts"
    hash_cache_path: str = "./.last_schema_hash"
    snapshot_path: str | None = None  # default: next to the hash cache
    typegen_command: str | None = None
    typegen_options: Any = None  # TypegenOptions of the built-in generator (None: its defaults)
    project_id: str = "ctas7-command-center"
    source_node: str = "schema_sync"
    poll_interval: float = 5.0  # polling fallback, s
    debounce: float = 0.05  # quiet time after a notification before syncing, s
    debounce_max: float = 1.0  # longest a burst of notifications can delay a sync, s
    retry_initial: float = 0.5  # first reconnect / retry delay, s
    retry_max: float = 30.0  # longest reconnect / retry delay, s
    command_timeout: float = 300.0  # external generator, s
    watch_artifacts: bool = True
    catalog_probe: bool = True  # skip introspection when no catalog row changed since the last
    max_changes_bytes: int = 16_384  # structured diff kept in the event up to this size
    # every generated types file as (language, path), the first being the seed's types file
    # (its path becomes ``schema_path``); () = TypeScript at ``schema_path`` only
    types: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.types:
            return
        from ctas7_panel.schema.languages import check_language

        paths = [path for _, path in self.types]
        for language, path in self.types:
            check_language(language)
            if not path:
                raise SchemaError(f"types file for {language!r} has an empty path")
            if paths.count(path) > 1:
                raise SchemaError(f"types file {path!r} is listed twice: give each file once")
        object.__setattr__(self, "schema_path", self.types[0][1])

    @classmethod
    def from_settings(cls, settings: Settings, db_url: str, **overrides: Any) -> SyncConfig:
        """The node's configuration from ``Settings``; ``overrides`` (CLI flags) win unless None."""
        values: dict[str, Any] = {
            "db_url": db_url,
            "schema_path": settings.schema_path,
            "hash_cache_path": settings.hash_cache_path,
            "typegen_command": settings.typegen_command,
            "project_id": settings.supabase_project_id,
            "poll_interval": settings.poll_interval,
        }
        types = getattr(settings, "types", None)
        if types:
            if overrides.get("schema_path") is not None:
                raise UsageError(
                    "--schema-path and CTAS7_TYPES both name the types file: the first entry "
                    "of CTAS7_TYPES is the seed's types file, give one of them"
                )
            values["types"] = tuple(types)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def outputs(self) -> tuple[tuple[str, str], ...]:
        """Every types file as (language, path), the seed's first."""
        return self.types or (("typescript", self.schema_path),)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(language for language, _ in self.outputs))

    @property
    def snapshot_file(self) -> Path:
        if self.snapshot_path:
            return Path(self.snapshot_path)
        return artifacts.default_snapshot_path(self.hash_cache_path)

    @property
    def generator_id(self) -> str:
        """Names the generator, its options and the types files; a change forces regeneration."""
        if self.typegen_command:
            base = f"command:{self.typegen_command}"
        elif self.typegen_options is None:
            base = "builtin"
        else:
            base = f"builtin:{self.typegen_options!r}"
        if self.outputs != (("typescript", self.schema_path),):
            base += " types=" + ",".join(f"{lang}:{path}" for lang, path in self.outputs)
        return base
