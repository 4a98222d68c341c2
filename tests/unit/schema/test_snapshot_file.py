"""The one snapshot-file loader: the sync node's record and a bare snapshot, strictly."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ctas7_panel.errors import ArtifactError
from ctas7_panel.schema.artifacts import Loaded
from ctas7_panel.schema.snapshot import canonical_json, fingerprint, load_snapshot, to_snapshot
from ctas7_panel.schema.snapshot_file import (
    RECORD_FORMAT,
    SnapshotRecord,
    parse_snapshot_file,
    read_snapshot_file,
)


@pytest.fixture
def snap(build) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return to_snapshot(build.catalog([build.table("t", [build.column("id")])]))


def test_record_and_bare_snapshot_load_to_the_same_schema(tmp_path: Path, snap) -> None:  # type: ignore[no-untyped-def]
    fp = fingerprint(snap)
    record = SnapshotRecord(fp, "f" * 64, "builtin", 1, snap)
    rec_file = tmp_path / ".last_schema_hash.snapshot.json"
    rec_file.write_bytes(record.encode())
    bare_file = tmp_path / "bare.json"
    bare_file.write_bytes(canonical_json(snap))

    from_record = read_snapshot_file(rec_file)
    from_bare = read_snapshot_file(bare_file)
    assert from_record.snapshot == from_bare.snapshot == snap
    assert from_record.fingerprint == from_bare.fingerprint == fp
    assert from_record.record == record and from_bare.record is None
    assert load_snapshot(rec_file) == load_snapshot(bare_file)
    assert SnapshotRecord.decode(Loaded(orjson.loads(record.encode()))) == (record, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"   \n", "is empty"),
        (b"{not json", "is not valid JSON"),
        (b"[1, 2]", "is not a ctas7 schema snapshot"),
        (b'{"hello": 1}', "is not a ctas7 schema snapshot"),
        (b'{"format": 2, "relations": []}', "has snapshot format 2"),
        (b'{"format": 1, "relations": {}}', "'relations' that is not a list"),
        (b'{"format": "ctas7-sync-snapshot/1"}', "is corrupt: 'fingerprint'"),
        (
            b'{"format": "ctas7-sync-snapshot/1", "fingerprint": "a", "types_hash": "b", '
            b'"generator": "g", "table_count": 1, "snapshot": {"tables": {}}}',
            "its snapshot is not a ctas7 schema snapshot",
        ),
    ],
)
def test_bad_files_name_the_file_and_the_fix(data: bytes, message: str) -> None:
    with pytest.raises(ArtifactError) as err:
        parse_snapshot_file(data, source="x.json")
    text = str(err.value)
    assert text.startswith("snapshot file 'x.json'") and message in text
    assert "ctas7 schema sync" in text  # how to get a good one


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist"):
        read_snapshot_file(tmp_path / "nope.json")
    assert RECORD_FORMAT == "ctas7-sync-snapshot/1"  # on disk since the first release
