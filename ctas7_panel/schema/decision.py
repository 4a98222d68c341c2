"""What a sync pass must do, and when it may skip introspection: the one decision. Pure core.

``decide(fingerprint, generator, observed)`` compares the live schema's fingerprint with what is
on disk (``Observed``: the hash cache, the snapshot record, the types files' hashes) and says
``unchanged``, ``restore`` (the schema did not change but a types file was edited or deleted)
or ``regenerate`` (with the reasons). ``observe(...)`` reads the disk for it; the Schema Sync
Node passes readers that remember unchanged files, the audit the plain ones.

The fast path: the catalog probe (``sql/catalog_probe.sql``: per catalog, a count and a hash of
every row version) changes with any DDL. A ``ProbeMark`` says "the catalog had this probe when
its fingerprint was computed"; ``verified_by_probe`` answers "unchanged" without introspecting
when the mark is for this database, ``decide`` says unchanged for the mark's fingerprint, and
the probe (run last: it needs the database) still matches. The sync node keeps its mark in
memory (with the introspection it vouches for); ``ctas7 audit`` keeps it next to the hash cache
(``<hash cache>.audit.json``), since each audit is a new process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from ctas7_panel.schema import artifacts
from ctas7_panel.schema.snapshot_file import SnapshotRecord

if TYPE_CHECKING:
    import psycopg

PROBE_FORMAT = "ctas7-audit-probe/2"

RecordReader = Callable[[Path], tuple[SnapshotRecord | None, str | None, bytes | None]]
TypesReader = Callable[[Path], tuple[str | None, bytes | None]]


@dataclass(frozen=True, slots=True)
class Observed:
    """What the disk says before a pass."""

    cached_hash: str | None
    cache_problem: str | None
    record: SnapshotRecord | None
    record_problem: str | None
    types_sha: str | None  # None: the types file is missing
    # the other types files (CTAS7_TYPES beyond the first): (path, sha or None when missing)
    other_types: tuple[tuple[str, str | None], ...] = ()


Action = Literal["unchanged", "restore", "regenerate"]


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reasons: tuple[str, ...]
    old_hash: str | None


def decide(fingerprint: str, generator: str, seen: Observed) -> Decision:
    """What a pass must do, from the live fingerprint and what is on disk. Pure."""
    reasons: list[str] = []
    if seen.cached_hash is None:
        reasons.append(f"hash cache {seen.cache_problem}")
    elif seen.cached_hash != fingerprint:
        reasons.append("schema changed")
    if seen.record is None:
        reasons.append(f"snapshot {seen.record_problem}")
    elif seen.cached_hash is not None and seen.record.fingerprint != seen.cached_hash:
        reasons.append("snapshot does not match the hash cache")
    elif seen.record.generator != generator:
        reasons.append("generator changed")
    elif any(path not in seen.record.types_hashes for path, _ in seen.other_types):
        reasons.append("snapshot lacks a types file's hash")
    if reasons:
        return Decision("regenerate", tuple(reasons), seen.cached_hash)
    assert seen.record is not None
    if seen.types_sha is None:
        return Decision("restore", ("types file deleted",), seen.cached_hash)
    if seen.types_sha != seen.record.types_hash:
        return Decision("restore", ("types file modified",), seen.cached_hash)
    for path, sha in seen.other_types:
        if sha is None:
            return Decision("restore", (f"types file {path} deleted",), seen.cached_hash)
        if sha != seen.record.types_hashes[path]:
            return Decision("restore", (f"types file {path} modified",), seen.cached_hash)
    return Decision("unchanged", (), seen.cached_hash)


@dataclass(frozen=True, slots=True)
class Failure:
    """A pass that could not finish: which stage, why; ``connection``: the database is gone."""

    stage: str
    error: str
    connection: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


# --- reading the disk --------------------------------------------------------------------------


def read_record(path: Path) -> tuple[SnapshotRecord | None, str | None, bytes | None]:
    """(record, None, bytes) or (None, why, None): the snapshot record through its loader."""
    data, problem = artifacts.read_bytes(path)
    if data is None:
        return None, problem, None
    record, problem = SnapshotRecord.decode(artifacts.parse_snapshot(data))
    return (None, problem, None) if record is None else (record, None, data)


def read_types(path: Path) -> tuple[str | None, bytes | None]:
    """(SHA-256, bytes) of a types file, or (None, None) when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError:
        return None, None
    return artifacts.sha256_hex(data), data


def observe(
    hash_cache_path: str,
    snapshot_file: Path,
    types_paths: Sequence[str],
    *,
    record_reader: RecordReader = read_record,
    types_reader: TypesReader = read_types,
) -> tuple[Observed, dict[str, bytes | None], bytes | None]:
    """(what the disk says, each types file's bytes, the snapshot record's bytes).

    ``types_paths[0]`` is the seed's types file, the others are ``CTAS7_TYPES``' further files.
    """
    cache = artifacts.read_hash_cache(hash_cache_path)
    record, problem, snap_bytes = record_reader(snapshot_file)
    read = {path: types_reader(Path(path)) for path in types_paths}
    others = tuple((path, read[path][0]) for path in types_paths[1:])
    observed = Observed(
        cache.value, cache.problem, record, problem, read[types_paths[0]][0], others
    )
    return observed, {path: data for path, (_, data) in read.items()}, snap_bytes


# --- the fast path ------------------------------------------------------------------------------


@functools.cache
def catalog_probe_sql() -> bytes:
    """The probe query (``schema/sql/catalog_probe.sql``), loaded once."""
    return (resources.files("ctas7_panel.schema") / "sql" / "catalog_probe.sql").read_bytes()


def catalog_probe(conn: psycopg.Connection[Any]) -> str:
    """The catalog probe of the database ``conn`` is connected to."""
    row = conn.execute(catalog_probe_sql()).fetchone()
    return "" if row is None else str(row[0])


@dataclass(frozen=True, slots=True)
class ProbeMark:
    """The catalog probe of ``database`` when its schema had ``fingerprint``."""

    database: str  # the URL with its password hidden
    probe: str
    fingerprint: str

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "format": PROBE_FORMAT,
                "database": self.database,
                "probe": self.probe,
                "fingerprint": self.fingerprint,
            },
            option=orjson.OPT_SORT_KEYS,
        )

    @classmethod
    def decode(cls, data: bytes | None) -> ProbeMark | None:
        """The mark, or None when ``data`` is missing, corrupt or of another format."""
        if data is None:
            return None
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(obj, dict) or obj.get("format") != PROBE_FORMAT:
            return None
        database, probe, fingerprint = obj.get("database"), obj.get("probe"), obj.get("fingerprint")
        if not (
            isinstance(database, str) and isinstance(probe, str) and isinstance(fingerprint, str)
        ):
            return None
        return cls(database, probe, fingerprint)


def verified_by_probe(
    mark: ProbeMark | None,
    *,
    database: str,
    generator: str,
    observed: Observed,
    probe: Callable[[], str],
) -> bool:
    """True when a pass would find everything unchanged, known without introspecting.

    ``probe()`` (the database's catalog probe now) is called last, only when everything on disk
    agrees with the mark; what it raises (the database cannot be reached) is the caller's.
    """
    if mark is None or mark.database != database:
        return False
    if decide(mark.fingerprint, generator, observed).action != "unchanged":
        return False
    return probe() == mark.probe
