"""SurrealQL text for the mirror (pure): literals, record ids, the mirror's schema.

Bulk data goes into statements as *literals*, not as query parameters: the SurrealDB client
encodes parameters to CBOR in pure Python (~2 s for 12,000 small records), while the engine
parses the same data as text in a fraction of that. Every string is written as a JSON string,
which SurrealQL reads identically (quotes, backslashes, control characters and any Unicode: a
test round-trips hostile names through a real engine), so names can never break out of a
literal. Table names are this module's constants, never user input.

Mirror layout (namespace ``ctas7``, database ``graph`` unless the URL says otherwise)::

    pg_schema  pg_relation  pg_column  pg_function  pg_type  pg_sequence
    pg_foreign_key  pg_trigger  pg_policy  legion_task  types_file      nodes of the graph
    depends_on     (dependent) -> (referenced)   breaking, scope          edges (RELATE records)
    schema_version [hash]  -follows-> previous version; -changed-> nodes (change)
    event [event_id]  -produced-> schema_version; -led_to-> event
    legion_task -ran_on-> schema_version   (count, last_status, last_event, last_at)
    mirror:state   the hash currently mirrored

Every node record has ``key`` (its ``NodeId`` as a JSON list), ``kind``, ``schema``, ``name``,
``sub``, ``display``, ``sig``, ``present`` (false once a later version removed it: the record
stays, for history, with ``removed_in``), ``attrs``, and ``relation`` (a link to its relation,
for columns, foreign keys, triggers and policies). Two computed fields answer "what depends on
this": ``dependents`` and ``breaking_dependents`` (see ``SCHEMA``); recursion over them is the
impact walk (``node.{1..N+collect}.dependents``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from ctas7_panel.graph.model import ATTACHED_KINDS, RELATION_KINDS, NodeId

NAMESPACE = "ctas7"
DATABASE = "graph"

NODE_TABLES: dict[str, str] = {
    **dict.fromkeys(RELATION_KINDS, "pg_relation"),
    "column": "pg_column",
    "function": "pg_function",
    "type": "pg_type",
    "sequence": "pg_sequence",
    "foreign_key": "pg_foreign_key",
    "trigger": "pg_trigger",
    "policy": "pg_policy",
    "schema": "pg_schema",
    "legion_task": "legion_task",
    "types_file": "types_file",
}
TABLES: tuple[str, ...] = tuple(dict.fromkeys(NODE_TABLES.values()))


@dataclass(frozen=True, slots=True)
class Rid:
    """A record id ``table:[k1, k2, ...]`` (``table`` is one of this module's constants)."""

    table: str
    key: tuple[Any, ...]

    def __str__(self) -> str:
        return f"{self.table}:{lit(list(self.key))}"

    @property
    def text(self) -> str:
        """``str(self)``, computed once (record ids are written many times)."""
        return _rid_text(self)


def _rid_text(r: Rid) -> str:
    try:
        return _cached_rid_text(r)
    except TypeError:  # a key holding a list: not hashable, not cached
        return f"{r.table}:{lit(list(r.key))}"


@lru_cache(maxsize=1 << 17)
def _cached_rid_text(r: Rid) -> str:
    return f"{r.table}:{lit(list(r.key))}"


@lru_cache(maxsize=1 << 17)
def record_key(nid: NodeId) -> tuple[str, ...]:
    if nid.kind in RELATION_KINDS or nid.kind in ("type", "sequence"):
        return (nid.schema, nid.name)
    if nid.kind in ("column", "function") or nid.kind in ATTACHED_KINDS:
        return (nid.schema, nid.name, nid.sub)
    return (nid.name,)


@lru_cache(maxsize=1 << 17)
def rid(nid: NodeId) -> Rid:
    """The record id of a node."""
    return Rid(NODE_TABLES[nid.kind], record_key(nid))


@lru_cache(maxsize=1 << 17)
def node_key(nid: NodeId) -> str:
    """A node's ``key`` field: its ``NodeId`` as compact JSON."""
    return orjson.dumps(nid.to_list()).decode()


def edge_rid(dependent: NodeId, referenced: NodeId, scope: str) -> Rid:
    d, r = rid(dependent), rid(referenced)
    return Rid("depends_on", ((d.table, *d.key), (r.table, *r.key), scope))


def lit(value: Any) -> str:
    """``value`` as a SurrealQL literal: JSON for plain data, ``Rid`` as a record id.

    A top-level ``None`` is ``NONE``; inside objects and arrays it is ``null``. Dict keys are
    written as JSON strings. Plain parts go through ``orjson`` in one call (the hot path of a
    first mirror of 16,000 records); only the fields holding record ids are spliced in.
    """
    if isinstance(value, Rid):
        return value.text
    if value is None:
        return "NONE"
    if isinstance(value, bool | int | float | str):
        return orjson.dumps(value).decode()
    if isinstance(value, Mapping):
        plain = {}
        linked = []
        for k, v in value.items():
            if _has_rid(v):
                linked.append(f"{orjson.dumps(str(k)).decode()}: {_inner(v)}")
            else:
                plain[str(k)] = v
        body = _json(plain)[1:-1] if plain else ""
        return "{" + ", ".join([*linked, body] if body else linked) + "}"
    if isinstance(value, list | tuple):
        if not _has_rid(value):
            return _json(list(value))
        return "[" + ", ".join(_inner(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as a SurrealQL literal")


def record(links: Mapping[str, Rid], plain: Mapping[str, Any]) -> str:
    """An object literal whose ``links`` are record ids and ``plain`` is JSON data: the plain
    part is serialised by ``orjson`` in one call (the bulk path of the mirror)."""
    parts = [f"{orjson.dumps(k).decode()}: {r.text}" for k, r in links.items()]
    body = _json(dict(plain))[1:-1] if plain else ""
    if body:
        parts.append(body)
    return "{" + ", ".join(parts) + "}"


def _inner(value: Any) -> str:
    return "null" if value is None else lit(value)


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:
        raise TypeError(f"cannot write {value!r:.60} as a SurrealQL literal: {exc}") from exc


def _has_rid(value: Any) -> bool:
    t = type(value)
    if t is Rid:
        return True
    if t is list or t is tuple:
        return any(_has_rid(v) for v in value)
    if t is dict:
        return any(_has_rid(v) for v in value.values())
    return isinstance(value, Mapping) and any(_has_rid(v) for v in value.values())


def rid_list(rids: Sequence[Rid]) -> str:
    return "[" + ", ".join(r.text for r in rids) + "]"


# --- the mirror's schema -------------------------------------------------------------------

_PLAIN_DEPENDENTS = (
    "VALUE <future> { RETURN <-depends_on<-? }",
    "VALUE <future> { RETURN <-depends_on[WHERE breaking]<-? }",
)
# a column: also what depends on its relation's row shape (never breaking)
_COLUMN_DEPENDENTS = (
    "VALUE <future> { RETURN array::union(<-depends_on<-?, "
    "relation<-depends_on[WHERE scope = 'row']<-?) }",
    "VALUE <future> { RETURN <-depends_on[WHERE breaking]<-? }",
)
# a relation: also what depends on its columns; what hangs on the relation itself goes with it
_RELATION_DEPENDENTS = (
    "VALUE <future> { LET $me = id; "
    "LET $cols = (SELECT VALUE id FROM pg_column WHERE relation = $me AND present); "
    "RETURN array::union(<-depends_on<-?, array::flatten($cols.map(|$c| $c<-depends_on<-?))) }",
    "VALUE <future> { LET $me = id; "
    "LET $cols = (SELECT VALUE id FROM pg_column WHERE relation = $me AND present); "
    "LET $b = array::flatten($cols.map(|$c| $c<-depends_on[WHERE breaking]<-?)); "
    "RETURN array::union(<-depends_on[WHERE breaking]<-?, "
    "(SELECT VALUE id FROM $b WHERE relation != $me)) }",
)


def schema_statements() -> str:
    """The mirror's definitions (idempotent: ``OVERWRITE``)."""
    out = [
        "DEFINE TABLE OVERWRITE depends_on TYPE RELATION SCHEMALESS",
        "DEFINE TABLE OVERWRITE changed TYPE RELATION SCHEMALESS",
        "DEFINE TABLE OVERWRITE follows TYPE RELATION SCHEMALESS",
        "DEFINE TABLE OVERWRITE produced TYPE RELATION SCHEMALESS",
        "DEFINE TABLE OVERWRITE led_to TYPE RELATION SCHEMALESS",
        "DEFINE TABLE OVERWRITE ran_on TYPE RELATION SCHEMALESS",
        "DEFINE INDEX OVERWRITE pg_column_relation ON pg_column FIELDS relation",
        "DEFINE INDEX OVERWRITE event_new_hash ON event FIELDS new_hash",
    ]
    for table in TABLES:
        out.append(f"DEFINE TABLE OVERWRITE {table} SCHEMALESS")
        if table == "pg_column":
            dep, brk = _COLUMN_DEPENDENTS
        elif table == "pg_relation":
            dep, brk = _RELATION_DEPENDENTS
        else:
            dep, brk = _PLAIN_DEPENDENTS
        out.append(f"DEFINE FIELD OVERWRITE dependents ON {table} {dep}")
        out.append(f"DEFINE FIELD OVERWRITE breaking_dependents ON {table} {brk}")
    return ";\n".join(out) + ";"


def nodes_of(tables: Sequence[str] = TABLES) -> str:
    """``FROM`` list of every node table."""
    return ", ".join(tables)
