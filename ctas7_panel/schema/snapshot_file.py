"""The snapshot file: one loader for every reader (``ctas7 schema diff``, Legion, the audit, the
sync node).

Two shapes are written to disk:

- the Schema Sync Node's record, ``<hash cache>.snapshot.json`` (``ctas7 schema sync``, the
  app, the audit): ``{"format": "ctas7-sync-snapshot/1", "fingerprint", "types_hash",
  "types_hashes", "generator", "table_count", "snapshot": {...}}`` where ``snapshot`` is the
  canonical snapshot;
- a bare canonical snapshot (``ctas7 schema snapshot -o FILE``): ``{"format": 1, "relations":
  [...], ...}`` (``ctas7_panel.schema.snapshot``).

``SnapshotRecord.decode`` reads the record and says what is wrong without raising (the sync node
treats a bad record as "regenerate"). ``parse_snapshot_file`` / ``read_snapshot_file`` read
either shape and return a ``SnapshotFile`` (the canonical snapshot and its fingerprint), or raise
``ArtifactError`` naming the file, what is wrong with it and how to get a good one. Pure except
``read_snapshot_file``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ctas7_panel.errors import ArtifactError
from ctas7_panel.schema import artifacts
from ctas7_panel.schema.snapshot import SNAPSHOT_FORMAT, Snapshot, fingerprint

RECORD_FORMAT = "ctas7-sync-snapshot/1"


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """The sync node's snapshot file: the schema the types were made from, and their hash."""

    fingerprint: str
    types_hash: str  # of the seed's types file
    generator: str
    table_count: int
    snapshot: dict[str, Any]
    types_hashes: dict[str, str] = field(default_factory=dict)  # every types file: path -> hash

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "format": RECORD_FORMAT,
                "fingerprint": self.fingerprint,
                "types_hash": self.types_hash,
                "types_hashes": self.types_hashes,
                "generator": self.generator,
                "table_count": self.table_count,
                "snapshot": self.snapshot,
            },
            option=orjson.OPT_SORT_KEYS,
        )

    @classmethod
    def decode(cls, loaded: artifacts.Loaded) -> tuple[SnapshotRecord | None, str | None]:
        """(record, None), or (None, why): ``missing``, ``empty``, ``corrupt: ...``."""
        if not loaded.ok:
            return None, loaded.problem
        obj = loaded.value
        if obj.get("format") != RECORD_FORMAT:
            return None, f"corrupt: format is not {RECORD_FORMAT!r}"
        hashes = obj.get("types_hashes", {})
        if not isinstance(hashes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in hashes.items()
        ):
            return None, "corrupt: types_hashes is not an object of path -> hash"
        try:
            rec = cls(
                str(obj["fingerprint"]),
                str(obj["types_hash"]),
                str(obj["generator"]),
                int(obj["table_count"]),
                obj["snapshot"],
                hashes,
            )
        except (KeyError, TypeError, ValueError) as exc:
            return None, f"corrupt: {exc}"
        if not isinstance(rec.snapshot, dict):
            return None, "corrupt: snapshot is not an object"
        return rec, None


@dataclass(frozen=True, slots=True)
class SnapshotFile:
    """What a snapshot file holds: the canonical snapshot, its fingerprint, and the sync
    node's record when the file is one (None for a bare ``ctas7 schema snapshot`` file)."""

    snapshot: Snapshot
    fingerprint: str
    record: SnapshotRecord | None = None


_REGENERATE = (
    "write one with 'ctas7 schema sync' (the record next to the hash cache) or "
    "'ctas7 schema snapshot -o FILE'"
)


def _bare_problem(obj: Any) -> str | None:
    if not isinstance(obj, dict) or "relations" not in obj or "format" not in obj:
        return "is not a ctas7 schema snapshot (no 'format' and 'relations' keys)"
    if obj["format"] != SNAPSHOT_FORMAT:
        return f"has snapshot format {obj['format']!r}; this version reads format {SNAPSHOT_FORMAT}"
    if not isinstance(obj["relations"], list):
        return "has 'relations' that is not a list"
    return None


def parse_snapshot_file(data: bytes, *, source: str = "snapshot") -> SnapshotFile:
    """Either shape, from bytes; ``ArtifactError`` naming ``source`` when it is neither."""
    if not data.strip():
        raise ArtifactError(f"snapshot file {source!r} is empty: {_REGENERATE}")
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ArtifactError(
            f"snapshot file {source!r} is not valid JSON ({exc}): {_REGENERATE}"
        ) from exc
    loaded = artifacts.Loaded(obj)
    if isinstance(obj, dict) and obj.get("format") == RECORD_FORMAT:
        record, problem = SnapshotRecord.decode(loaded)
        if record is None:
            raise ArtifactError(f"snapshot file {source!r} is {problem}: {_REGENERATE}")
        inner = _bare_problem(record.snapshot)
        if inner is not None:
            raise ArtifactError(f"snapshot file {source!r}: its snapshot {inner}: {_REGENERATE}")
        return SnapshotFile(record.snapshot, record.fingerprint, record)
    problem = _bare_problem(obj)
    if problem is not None:
        if problem.startswith("is not"):
            problem = (
                "is not a ctas7 schema snapshot (neither a sync record with format "
                f"{RECORD_FORMAT!r} nor a snapshot with 'format' and 'relations' keys)"
            )
        raise ArtifactError(f"snapshot file {source!r} {problem}: {_REGENERATE}")
    return SnapshotFile(obj, fingerprint(obj))


def read_snapshot_file(path: str | Path) -> SnapshotFile:
    """Read either shape from ``path``; ``ArtifactError`` naming the file and the fix."""
    source = str(path)
    data, problem = artifacts.read_bytes(path)
    if data is None:
        if problem == "missing":
            raise ArtifactError(f"snapshot file {source!r} does not exist: {_REGENERATE}")
        raise ArtifactError(f"snapshot file {source!r} is {problem}: {_REGENERATE}")
    return parse_snapshot_file(data, source=source)
