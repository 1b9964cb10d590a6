"""The audit trail's head, kept beside the snapshots in S3 where the log's writer cannot reach.

One object per run (``audit-heads/<seq>-<run id>.json``, the seq zero-padded so that a listing
is in order): the signed checkpoint as the run left it, for ``offboard audit verify
--expect-head``.
"""

from __future__ import annotations

from audit.checkpoint import Checkpoint
from tasks import snapshot_store

PERMISSIONS = ("s3:PutObject",)
ANCHOR_FOLDER = "audit-heads"


def anchor_location(store: str, checkpoint: Checkpoint, run_id: str | None) -> str:
    return snapshot_store.join(
        store, ANCHOR_FOLDER, f"{checkpoint.seq:012d}-{run_id or 'run'}.json"
    )


def write_anchor(store: str, checkpoint: Checkpoint, run_id: str | None) -> str | None:
    """Put the anchor when ``store`` is S3 and return where; None for a local store, which
    sits on the same disk as the log and would prove nothing."""
    if not store.startswith("s3://"):
        return None
    location = anchor_location(store, checkpoint, run_id)
    snapshot_store.write_bytes(location, checkpoint.to_line() + b"\n")
    return location
