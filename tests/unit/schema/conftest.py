"""Builders of small in-memory catalogs for the pure schema tests (no database)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from ctas7_panel.schema.model import (
    Catalog,
    Column,
    Enum,
    Function,
    FunctionArg,
    Relation,
    Relationship,
    Schema,
    TypeRef,
)
from ctas7_panel.schema.options import TypegenOptions


class Build:
    """``build.column("id", "int4")``, ``build.table("t", [...])``, ``build.catalog(...)``."""

    @staticmethod
    def column(name: str, udt: str = "int4", *, nullable: bool = False, position: int = 1,
               default: str | None = None, identity: str | None = None) -> Column:  # fmt: skip
        return Column(
            name=name, position=position, type_name=udt, type_schema="pg_catalog", format=udt,
            data_type=udt, array_dims=0, is_nullable=nullable, default=default,
            identity=identity, generated=None, is_updatable=True,
        )  # fmt: skip

    @staticmethod
    def table(name: str, columns: Sequence[Column], schema: str = "public", **kw: Any) -> Relation:
        cols = tuple(replace(c, position=i) for i, c in enumerate(columns, start=1))
        return Relation(schema=schema, name=name, kind=kw.pop("kind", "table"), columns=cols, **kw)

    @staticmethod
    def function(name: str, args: Sequence[tuple[str, str]] = (), returns: str = "int4",
                 schema: str = "public") -> Function:  # fmt: skip
        fargs = tuple(
            FunctionArg(n, "in", TypeRef("pg_catalog", t, None, t), False) for n, t in args
        )
        text = ", ".join(f"{n} {t}".strip() for n, t in args)
        return Function(
            schema=schema, name=name, args=fargs, argument_types=text,
            identity_arguments=text, result=returns,
            return_type=TypeRef("pg_catalog", returns, None, returns), returns_set=False,
            rows=0.0, default_count=0,
        )  # fmt: skip

    @staticmethod
    def catalog(
        relations: Sequence[Relation] = (),
        functions: Sequence[Function] = (),
        enums: Sequence[Enum] = (),
        relationships: Sequence[Relationship] = (),
        schemas: Sequence[str] = ("public",),
        options: TypegenOptions | None = None,
    ) -> Catalog:
        return Catalog(
            options=options or TypegenOptions(),
            schemas=tuple(Schema(s, "postgres") for s in schemas),
            relations=tuple(relations), enums=tuple(enums), composites=(), domains=(),
            functions=tuple(functions), relationships=tuple(relationships),
        )  # fmt: skip


@pytest.fixture(scope="session")
def build() -> type[Build]:
    return Build
