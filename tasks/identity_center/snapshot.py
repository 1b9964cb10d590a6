"""A restorable snapshot of an Identity Center user (attributes, group memberships, account
assignments), written and read back before the first destructive step."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from config.settings import get_settings
from tasks import snapshot_store
from tasks.frozen import Frozen
from tasks.identity_center.models import IdcInstance, IdcInventory, IdcUser
from tasks.runtime import iam_task
from tasks.snapshot import SnapshotRef, read_snapshot, write_snapshot

PERMISSIONS = snapshot_store.PERMISSIONS
SCHEMA_VERSION = 1


class IdcSnapshot(Frozen):
    schema_version: int = SCHEMA_VERSION
    kind: Literal["identity_center_user"] = "identity_center_user"
    taken_at: datetime
    run_id: str | None = None
    instance: IdcInstance
    user: IdcUser
    inventory: IdcInventory


def snapshot_location(snapshot: IdcSnapshot) -> str:
    stamp = snapshot.taken_at.strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{stamp}-{snapshot.run_id or 'local'}.json"
    folder = snapshot_store.folder_name(snapshot.user.user_name)
    store = get_settings().snapshot_store
    return snapshot_store.join(
        store, "identity-center", snapshot.instance.identity_store_id, folder, name
    )


@iam_task(
    name="take-identity-center-snapshot",
    task_run_name="identity-center-snapshot:{user.user_name}",
)
def take_idc_snapshot(
    instance: IdcInstance, user: IdcUser, inventory: IdcInventory, run_id: str | None
) -> SnapshotRef:
    """Write the snapshot, read it back and compare; any failure raises SnapshotError."""
    snapshot = IdcSnapshot(
        taken_at=datetime.now(UTC), run_id=run_id, instance=instance, user=user, inventory=inventory
    )
    return write_snapshot(snapshot_location(snapshot), snapshot)


def is_idc_snapshot(location: str) -> bool:
    """Whether ``location`` holds an Identity Center user's snapshot (False if unreadable:
    the IAM snapshot reader then says what is wrong)."""
    try:
        found = json.loads(snapshot_store.read_bytes(location))
    except (OSError, ClientError, BotoCoreError, ValueError):
        return False
    return isinstance(found, dict) and found.get("kind") == "identity_center_user"


def load_idc_snapshot(location: str) -> IdcSnapshot:
    def identity_center_user(found: dict[str, Any]) -> str | None:
        if found.get("kind") == "identity_center_user":
            return None
        return "is not an Identity Center user snapshot"

    return read_snapshot(location, IdcSnapshot, identity_center_user)
