"""Generator settings, as the Supabase CLI has them."""

from __future__ import annotations

from dataclasses import dataclass

from ctas7_panel.errors import UsageError

DEFAULT_SCHEMAS: tuple[str, ...] = ("public", "graphql_public")
PG_META_VERSIONS: tuple[str, ...] = ("0.98.0", "0.99.0")
DEFAULT_PG_META_VERSION = "0.99.0"
SWIFT_ACCESS_CONTROLS: tuple[str, ...] = ("internal", "public")


@dataclass(frozen=True, slots=True)
class TypegenOptions:
    """What ``supabase gen types typescript`` is asked for.

    ``schemas``: the schemas to include, in any order (output is sorted); ``None`` means every
    non-system schema the user may use (``--all-schemas``). The default is the CLI's
    ``public,graphql_public``; names that do not exist are ignored.
    ``detect_one_to_one``: emit ``isOneToOne`` in relationships (``--no-detect-one-to-one``).
    ``postgrest_version``: emit the ``__InternalSupabase`` block naming that version.
    ``pg_meta_version``: which release of Supabase's generator (postgres-meta) to match
    byte for byte, ``"0.98.0"`` or ``"0.99.0"`` (the newest, the default).
    ``swift_access_control``: the access level of the generated Swift declarations,
    ``"internal"`` (the default) or ``"public"`` (``--swift-access-control``).
    """

    schemas: tuple[str, ...] | None = DEFAULT_SCHEMAS
    detect_one_to_one: bool = True
    postgrest_version: str | None = None
    pg_meta_version: str = DEFAULT_PG_META_VERSION
    swift_access_control: str = "internal"

    def __post_init__(self) -> None:
        if self.pg_meta_version not in PG_META_VERSIONS:
            raise UsageError(
                f"unknown postgres-meta version {self.pg_meta_version!r}: use one of "
                f"{', '.join(PG_META_VERSIONS)} (the Supabase CLI's generator release)"
            )
        if self.swift_access_control not in SWIFT_ACCESS_CONTROLS:
            raise UsageError(
                f"bad Swift access control {self.swift_access_control!r}: use one of "
                f"{', '.join(SWIFT_ACCESS_CONTROLS)}"
            )

    @classmethod
    def from_schema_list(
        cls,
        schema_list: str | None,
        *,
        all_schemas: bool = False,
        detect_one_to_one: bool = True,
        postgrest_version: str | None = None,
        pg_meta_version: str = DEFAULT_PG_META_VERSION,
        swift_access_control: str = "internal",
    ) -> TypegenOptions:
        """Options from the CLI's ``--schema a,b`` text (split on "," without trimming)."""
        if all_schemas and schema_list is not None:
            raise UsageError("--schema and --all-schemas exclude each other: give one of them")
        if all_schemas:
            schemas: tuple[str, ...] | None = None
        elif schema_list is None:
            schemas = DEFAULT_SCHEMAS
        else:
            schemas = tuple(schema_list.split(","))
        if postgrest_version is not None and not postgrest_version.strip():
            raise UsageError("bad --postgrest-version '': give a version such as 13.0.5")
        return cls(
            schemas=schemas,
            detect_one_to_one=detect_one_to_one,
            postgrest_version=postgrest_version,
            pg_meta_version=pg_meta_version,
            swift_access_control=swift_access_control,
        )
