"""Restore a user from a snapshot, idempotently; say plainly what cannot come back."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from prefect import flow
from prefect.runtime import flow_run

from config.logging import ensure_logging
from flows.auditing import RunAudit, target_of
from tasks.frozen import Frozen
from tasks.identity import caller_identity
from tasks.models import validate_user_name
from tasks.restore import (
    RestoreResult,
    recreate_user,
    restore_groups,
    restore_inline_policies,
    restore_managed_policies,
    restore_signing_certificates,
    restore_ssh_public_keys,
)
from tasks.snapshot import UserSnapshot, load_snapshot
from tasks.user import find_user

log = structlog.get_logger("offboard.flow")
FLOW_NAME = "restore-user"


class RestoreReport(Frozen):
    user_name: str
    source_user_name: str
    snapshot: str
    run_id: str | None = None
    steps: tuple[RestoreResult, ...] = ()
    # Credentials IAM will never hand back: new ones must be issued.
    not_restorable: tuple[str, ...] = ()
    finished_at: datetime


def not_restorable(snapshot: UserSnapshot) -> tuple[str, ...]:
    inventory = snapshot.inventory
    lines = [f"access key {key.access_key_id}: issue a new key" for key in inventory.access_keys]
    if inventory.login_profile:
        lines.append("console password: set a new one (CreateLoginProfile)")
    lines += [
        f"MFA device {device.serial_number} ({device.kind}): enrol a device again"
        for device in inventory.mfa_devices
    ]
    lines += [
        f"service-specific credential {cred.service_specific_credential_id} "
        f"({cred.service_name}): create a new one"
        for cred in inventory.service_specific_credentials
    ]
    return tuple(lines)


@flow(name=FLOW_NAME, flow_run_name="restore-{snapshot_location}", log_prints=False)
def restore_user(snapshot_location: str, new_name: str | None = None) -> RestoreReport:
    """Recreate the user recorded at `snapshot_location` (under `new_name` if given)."""
    ensure_logging()
    if new_name is not None:
        validate_user_name(new_name)
    snapshot = load_snapshot(snapshot_location)
    user_name = new_name or snapshot.user.user_name
    run_id = str(flow_run.id) if flow_run.id else None
    caller = caller_identity()
    inventory = snapshot.inventory

    steps = [recreate_user(snapshot.user, user_name)]
    audit = RunAudit(
        flow=FLOW_NAME,
        run_id=run_id,
        actor=caller.arn,
        target=target_of(user_name, find_user(user_name)),
        reason=f"restore from {snapshot_location}",
    )
    steps += [
        restore_groups(user_name, inventory.groups),
        restore_inline_policies(user_name, inventory.inline_policies),
        restore_managed_policies(user_name, inventory.attached_policies),
        restore_ssh_public_keys(user_name, inventory.ssh_public_keys),
        restore_signing_certificates(user_name, inventory.signing_certificates),
    ]
    for result in steps:
        audit.record(
            result.step,
            f"restore.{result.step}",
            # Nothing to put back (already there) is a skip, not a change.
            "done" if result.restored else "skipped",
            resources=result.restored,
            message=f"already present: {', '.join(result.already_present)}"
            if result.already_present
            else None,
        )
    report = RestoreReport(
        user_name=user_name,
        source_user_name=snapshot.user.user_name,
        snapshot=snapshot_location,
        run_id=run_id,
        steps=tuple(steps),
        not_restorable=not_restorable(snapshot),
        finished_at=datetime.now(UTC),
    )
    log.info("restore.finished", user=user_name, not_restorable=len(report.not_restorable))
    return report
