"""The resource policies a references clean rewrote, old and new documents, kept in the snapshot
store beside the user's own snapshots, so each can be put back by hand."""

from __future__ import annotations

from datetime import UTC, datetime

from config.settings import get_settings
from tasks import snapshot_store
from tasks.frozen import Frozen
from tasks.references.clean import Cleaned
from tasks.runtime import iam_task
from tasks.snapshot import SnapshotRef, write_snapshot

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
    return write_snapshot(location, snapshot, "references snapshot")
