"""A restorable snapshot of the user, written and read back before the first destructive step."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from config.settings import get_settings
from tasks import snapshot_store
from tasks.aws import count_calls, iam_client
from tasks.errors import OffboardError
from tasks.frozen import Frozen
from tasks.models import UserInventory, UserSummary
from tasks.procedure import ATTACHMENT_STEPS
from tasks.review import AccessReview
from tasks.runtime import Detailer, iam_task
from tasks.side_by_side import USER_READS_AT_ONCE, each
from tasks.user_references import UserReferences

# The detail fetchers (GetUserPolicy, GetSSHPublicKey) are declared by their steps.
PERMISSIONS = snapshot_store.PERMISSIONS
SCHEMA_VERSION = 1
# The snapshot formats this engine can read; a newer one may mean what it does not know.
KNOWN_SCHEMA_VERSIONS = frozenset({SCHEMA_VERSION})


class SnapshotError(OffboardError):
    """The snapshot could not be written or did not read back intact."""


class UserSnapshot(Frozen):
    schema_version: int = SCHEMA_VERSION
    taken_at: datetime
    run_id: str | None = None
    user: UserSummary
    # With inline policy documents and SSH key bodies filled in.
    inventory: UserInventory
    review: AccessReview | None = None
    # The resource-policy statements naming the user, as far as the run scanned them.
    references: UserReferences | None = None


class SnapshotRef(Frozen):
    location: str
    sha256: str
    size: int
    api_calls: int = 0


def write_snapshot(location: str, snapshot: Frozen, what: str = "snapshot") -> SnapshotRef:
    """Write ``snapshot`` at ``location``, read it back and compare, bytes and parsed: a
    snapshot that is not there intact is no snapshot. SnapshotError says what failed."""
    data = snapshot.model_dump_json(indent=2).encode()
    with count_calls() as calls:
        try:
            snapshot_store.write_bytes(location, data)
            echoed = snapshot_store.read_bytes(location)
        except (OSError, ClientError, BotoCoreError) as exc:
            raise SnapshotError(f"cannot write {what} to {location}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if hashlib.sha256(echoed).hexdigest() != digest:
        raise SnapshotError(f"{what} at {location} did not read back intact")
    if type(snapshot).model_validate_json(echoed) != snapshot:
        raise SnapshotError(f"{what} at {location} does not parse back to what was written")
    return SnapshotRef(location=location, sha256=digest, size=len(data), api_calls=calls.count)


def complete_inventory(user_name: str, inventory: UserInventory) -> UserInventory:
    """Fetch what the list calls leave out, through each step's detail fetcher."""
    iam = iam_client()
    kinds = [(step.name, step.spec.details) for step in ATTACHMENT_STEPS if step.spec.details]

    def fetch(kind: tuple[str, Detailer]) -> tuple[Any, ...]:
        name, detail = kind
        items = inventory.details(name)
        return tuple(each(items, lambda item: detail(iam, user_name, item), USER_READS_AT_ONCE))

    # Each a read of its own (an SSH key's body, an inline policy's document): all at once.
    fetched = each(kinds, fetch, len(kinds))
    update = {name: items for (name, _), items in zip(kinds, fetched, strict=True)}
    return inventory.model_copy(update=update)


def snapshot_location(user: UserSummary, taken_at: datetime, run_id: str | None) -> str:
    stamp = taken_at.strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{stamp}-{run_id or 'local'}.json"
    folder = snapshot_store.folder_name(user.user_name)
    return snapshot_store.join(get_settings().snapshot_store, user.account_id, folder, name)


@iam_task(name="take-snapshot", task_run_name="snapshot:{user.user_name}")
def take_snapshot(
    user: UserSummary,
    inventory: UserInventory,
    review: AccessReview | None,
    run_id: str | None,
    references: UserReferences | None = None,
) -> SnapshotRef:
    """Write the snapshot, read it back and compare; any failure raises SnapshotError."""
    with count_calls() as calls:
        snapshot = UserSnapshot(
            taken_at=datetime.now(UTC),
            run_id=run_id,
            user=user,
            inventory=complete_inventory(user.user_name, inventory),
            review=review,
            references=references,
        )
    written = write_snapshot(snapshot_location(user, snapshot.taken_at, run_id), snapshot)
    # The detail fetches count with the snapshot's own calls.
    return written.model_copy(update={"api_calls": calls.count + written.api_calls})


SnapshotT = TypeVar("SnapshotT", bound=Frozen)


def read_snapshot(
    location: str, model: type[SnapshotT], check: Callable[[dict[str, Any]], str | None]
) -> SnapshotT:
    """The snapshot at ``location`` as ``model``; ``check`` says why its JSON object is not
    one this engine reads (None: it is). Every failure is a SnapshotError naming the file."""
    try:
        data = snapshot_store.read_bytes(location)
    except (OSError, ClientError, BotoCoreError) as exc:
        raise SnapshotError(f"cannot read snapshot {location}: {exc}") from exc
    try:
        found = json.loads(data)
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise SnapshotError(f"{location} is not an offboard snapshot: not a JSON object")
    problem = check(found)
    if problem is not None:
        raise SnapshotError(f"{location} {problem}")
    try:
        return model.model_validate_json(data)
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise SnapshotError(f"{location} is not an offboard snapshot: {first}") from None


def _known_version(found: dict[str, Any]) -> str | None:
    version = found.get("schema_version")
    if version in KNOWN_SCHEMA_VERSIONS:
        return None
    known = ", ".join(str(v) for v in sorted(KNOWN_SCHEMA_VERSIONS))
    return f"has schema_version {version!r}; this engine reads version {known}"


def load_snapshot(location: str) -> UserSnapshot:
    return read_snapshot(location, UserSnapshot, _known_version)
