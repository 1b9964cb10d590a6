"""The resource policies a references clean rewrote, old and new documents, kept in the snapshot
store beside the user's own snapshots, so each can be put back by hand."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from config.settings import get_settings
from tasks import snapshot_store
from tasks.aws import count_calls
from tasks.frozen import Frozen
from tasks.references.clean import Cleaned
from tasks.runtime import iam_task
from tasks.snapshot import SnapshotError, SnapshotRef

PERMISSIONS = snapshot_store.PERMISSIONS


class ReferencesSnapshot(Frozen):
    taken_at: datetime
    run_id: str | None = None
    account_id: str
    # The user as the trail knew it (its name, or the unique id given), and every principal
    # (ARN, unique id) taken out of the documents.
    user: str
    principals: tuple[str, ...]
    cleaned: tuple[Cleaned, ...]


@iam_task(name="snapshot-references")
def write_references_snapshot(snapshot: ReferencesSnapshot) -> SnapshotRef:
    """Write the documents and read them back; any failure raises SnapshotError."""
    stamp = snapshot.taken_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = snapshot_store.folder_name(snapshot.user)
    name = f"{stamp}-{snapshot.run_id or 'local'}-references.json"
    location = snapshot_store.join(get_settings().snapshot_store, snapshot.account_id, folder, name)
    data = snapshot.model_dump_json(indent=2).encode()
    try:
        with count_calls() as calls:
            snapshot_store.write_bytes(location, data)
            echoed = snapshot_store.read_bytes(location)
    except (OSError, ClientError, BotoCoreError) as exc:
        raise SnapshotError(f"cannot write references snapshot to {location}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if hashlib.sha256(echoed).hexdigest() != digest:
        raise SnapshotError(f"references snapshot at {location} did not read back intact")
    return SnapshotRef(location=location, sha256=digest, size=len(data), api_calls=calls.count)
