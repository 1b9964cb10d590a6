"""Reading back the snapshot an earlier attempt recorded, to prove which user it deleted."""

from __future__ import annotations

import hashlib

from botocore.exceptions import BotoCoreError, ClientError

from tasks import snapshot_store
from tasks.snapshot import SnapshotRef, UserSnapshot


def recorded_snapshot(location: str, sha256: str) -> tuple[SnapshotRef, UserSnapshot] | str:
    """The snapshot at ``location`` if its bytes still hash to ``sha256``; else why not."""
    try:
        data = snapshot_store.read_bytes(location)
    except (OSError, ClientError, BotoCoreError) as exc:
        return f"its snapshot {location} cannot be read ({exc})"
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        return f"its snapshot {location} does not match the sha256 the audit trail recorded"
    try:
        snapshot = UserSnapshot.model_validate_json(data)
    except ValueError:
        return f"{location} is not an offboard snapshot"
    return SnapshotRef(location=location, sha256=digest, size=len(data)), snapshot
