"""Restore a user from a snapshot: check all of it first, never merge into someone else, audit
every change, and let a second run finish what a failed one started.

Refusals (a snapshot IAM would not accept, another account, a missing policy or group, an
existing or protected user) come before the first mutating call. A run that failed mid-way
can be run again with the same arguments: the audit trail's record of the CreateUser proves
the user under that name is the one this snapshot's restore created, and the run adds the rest.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from prefect import flow

from audit.records import AuditRecord
from audit.trail import AuditTrailError, default_trail, read_records
from config.settings import Settings
from flows.auditing import RunAudit, target_of
from flows.protection import refusal
from flows.report import FailureKind, Outcome, RunReport, StepFailure
from flows.run_context import run_context
from tasks.accounts import ACCOUNT_ID_PATTERN
from tasks.errors import InvalidInputError
from tasks.identity import CallerIdentity
from tasks.models import UserSummary, validate_user_name
from tasks.restore import (
    RestoreResult,
    create_user_from,
    restore_groups,
    restore_inline_policies,
    restore_managed_policies,
    restore_permissions_boundary,
    restore_signing_certificates,
    restore_ssh_public_keys,
    restore_tags,
)
from tasks.restore_checks import check_names, missing_references
from tasks.snapshot import UserSnapshot, load_snapshot

log = structlog.get_logger("offboard.flow")
FLOW_NAME = "restore-user"


class RestoreReport(RunReport):
    user_name: str
    source_user_name: str
    snapshot: str
    into_existing: bool = False
    # Set when this run finishes what an earlier run of the same restore started.
    resumed_run_id: str | None = None
    reason: str | None = None
    ticket: str | None = None
    steps: tuple[RestoreResult, ...] = ()
    # Credentials IAM will never hand back: new ones must be issued.
    not_restorable: tuple[str, ...] = ()


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


def validate_restore_input(new_name: str | None, into_account: str | None) -> None:
    """One-line InvalidInputError for bad arguments, before any AWS call."""
    if new_name is not None:
        validate_user_name(new_name)
    if into_account is not None and not ACCOUNT_ID_PATTERN.fullmatch(into_account):
        raise InvalidInputError(f"invalid --into-account {into_account!r}: use a 12-digit id")


def created_message(location: str) -> str:
    return f"created from snapshot {location}"


def earlier_restore(user: UserSummary, location: str) -> AuditRecord | None:
    """The audited CreateUser of a restore from `location` that made this very user (same
    unique id), or None."""
    found: AuditRecord | None = None
    try:
        for record in read_records(default_trail().path):
            if (
                record.flow == FLOW_NAME
                and record.step == "user"
                and record.outcome == "done"
                and record.target.user_id == user.user_id
                and record.message == created_message(location)
            ):
                found = record
    except (FileNotFoundError, AuditTrailError):
        return None
    return found


def _refused(step: str, code: str, message: str, action: str | None = None) -> StepFailure:
    return StepFailure(
        step=step, error_code=code, action=action, message=message, kind=FailureKind.refused
    )


def account_refusal(
    snapshot: UserSnapshot, caller: CallerIdentity, into_account: str | None
) -> StepFailure | None:
    """A snapshot goes back into its own account; another only when --into-account names the
    account the credentials are for."""
    source = snapshot.user.account_id
    if into_account is not None and into_account != caller.account:
        return _refused(
            "account",
            "WrongAccount",
            f"--into-account {into_account} but the credentials are for account {caller.account}",
        )
    if into_account is None and source != caller.account:
        return _refused(
            "account",
            "WrongAccount",
            f"the snapshot is of account {source} but the credentials are for account "
            f"{caller.account}; pass --into-account {caller.account} to restore it there",
        )
    return None


def target_refusal(
    snapshot: UserSnapshot,
    user_name: str,
    existing: UserSummary | None,
    resumed: AuditRecord | None,
    into_existing: bool,
    caller: CallerIdentity,
    settings: Settings,
) -> StepFailure | None:
    """Never into a protected user, never into an existing one unless asked (or this restore
    created it), and never a user that the restore itself would make protected."""
    if existing is not None:
        refused = refusal(user_name, existing, caller, settings)
        if refused is not None:
            return refused
        if resumed is None and not into_existing:
            return _refused(
                "resolve",
                "EntityAlreadyExists",
                f"an IAM user named {user_name} already exists; restore does not merge into it "
                "(pass --into-existing to add the snapshot's access to that user)",
                "iam:GetUser",
            )
    base = existing or snapshot.user
    would_be = base.model_copy(update={"user_name": user_name, "tags": snapshot.user.tags})
    refused = refusal(user_name, would_be, caller, settings)
    if refused is not None:
        return refused.model_copy(
            update={"message": f"restore would create a protected principal: {refused.message}"}
        )
    return None


def _change_note(result: RestoreResult) -> str | None:
    notes = []
    if result.replaced:
        notes.append(f"replaced: {', '.join(result.replaced)}")
    if result.already_present:
        notes.append(f"already present: {', '.join(result.already_present)}")
    return "; ".join(notes) or None


def _done_so_far(
    steps: list[RestoreResult], created_user: bool, resumed: AuditRecord | None
) -> str:
    parts = []
    if resumed is not None:
        parts.append(f"user {resumed.target.user_name} was created earlier in run {resumed.run_id}")
    restored = [f"{r.step} ({len(r.restored)})" for r in steps if r.step != "user" and r.restored]
    if created_user:
        parts.append(f"created user {steps[0].user_name}")
    if restored:
        parts.append(f"restored {', '.join(restored)}")
    return "; ".join(parts) or "nothing was created"


@flow(name=FLOW_NAME, flow_run_name="restore-{snapshot_location}", log_prints=False)
def restore_user(
    snapshot_location: str,
    new_name: str | None = None,
    into_account: str | None = None,
    into_existing: bool = False,
    reason: str | None = None,
    ticket: str | None = None,
) -> RestoreReport:
    """Recreate the user recorded at `snapshot_location` (under `new_name` if given).

    Raises InvalidInputError/SnapshotError for bad arguments or a snapshot IAM would not
    accept. Ends ``refused`` before any mutating call (another account, a missing policy or
    group, an existing or protected user), ``failed`` naming what was created.
    """
    validate_restore_input(new_name, into_account)
    snapshot = load_snapshot(snapshot_location)
    user_name = new_name or snapshot.user.user_name
    check_names(snapshot, user_name, snapshot_location)
    with run_context(
        FLOW_NAME,
        user_name,
        RestoreReport,
        reason=reason,
        ticket=ticket,
        source_user_name=snapshot.user.user_name,
        snapshot=snapshot_location,
        into_existing=into_existing,
        not_restorable=not_restorable(snapshot),
    ) as run:
        # Restore answers unknown and protected users itself (target_refusal): a user that
        # does not exist yet is what it usually creates.
        run.resolve()
        assert run.caller is not None
        existing = run.user
        resumed = earlier_restore(existing, snapshot_location) if existing else None
        refused = account_refusal(snapshot, run.caller, into_account) or target_refusal(
            snapshot, user_name, existing, resumed, into_existing, run.caller, run.settings
        )
        if refused is None:
            try:
                missing = missing_references(snapshot)
            except Exception as exc:
                failure = StepFailure.from_exception("check", exc)
                run.audit.failed(failure, "restore.check")
                return run.finish(Outcome.failed, failure=failure)
            if missing:
                refused = _refused(
                    "check",
                    "NoSuchEntity",
                    f"snapshot {snapshot_location} cannot be restored: {'; '.join(missing)}",
                )
        if refused is not None:
            return run.refuse(refused)
        if resumed is not None:
            run.fields["resumed_run_id"] = resumed.run_id
        return _write(
            snapshot, snapshot_location, user_name, existing, resumed, run.audit, run.finish
        )


def _write(
    snapshot: UserSnapshot,
    location: str,
    user_name: str,
    existing: UserSummary | None,
    resumed: AuditRecord | None,
    audit: RunAudit,
    finish: Callable[..., RestoreReport],
) -> RestoreReport:
    """Every write, each audited as it lands; the first failure ends the run naming what exists."""
    steps: list[RestoreResult] = []

    def failed(step: str, exc: BaseException) -> RestoreReport:
        cause = StepFailure.from_exception(step, exc)
        code, action = cause.error_code, cause.action
        audit.record(step, f"restore.{step}", "failed", error_code=code, message=cause.message)
        what = f"{code} on {action}" if action else str(code)
        done = _done_so_far(steps, existing is None and bool(steps), resumed)
        message = (
            f"restore of {user_name} stopped at {step} ({what}: {cause.message}); {done}; "
            "run the same restore again to finish"
        )
        return finish(
            Outcome.failed,
            steps=tuple(steps),
            failure=cause.model_copy(update={"message": message}),
        )

    if existing is None:
        try:
            current = create_user_from(snapshot.user, user_name)
        except Exception as exc:
            return failed("user", exc)
        audit.target = target_of(user_name, current)
        steps.append(RestoreResult(step="user", user_name=user_name, restored=(user_name,)))
        audit.record(
            "user",
            "restore.user",
            "done",
            resources=(current.arn,),
            message=created_message(location),
        )
    else:
        current = existing
        steps.append(RestoreResult(step="user", user_name=user_name, already_present=(user_name,)))
        why = (
            f"created earlier in run {resumed.run_id}; finishing that restore"
            if resumed is not None
            else f"exists; restoring {location} into it (--into-existing)"
        )
        audit.record("user", "restore.user", "skipped", resources=(current.arn,), message=why)

    inventory = snapshot.inventory
    writes: tuple[tuple[str, Callable[[], RestoreResult]], ...] = (
        ("tags", lambda: restore_tags(user_name, snapshot.user.tags, current.tags)),
        (
            "permissions_boundary",
            lambda: restore_permissions_boundary(
                user_name, snapshot.user.permissions_boundary_arn, current.permissions_boundary_arn
            ),
        ),
        ("groups", lambda: restore_groups(user_name, inventory.groups)),
        ("inline_policies", lambda: restore_inline_policies(user_name, inventory.inline_policies)),
        (
            "attached_policies",
            lambda: restore_managed_policies(user_name, inventory.attached_policies),
        ),
        ("ssh_public_keys", lambda: restore_ssh_public_keys(user_name, inventory.ssh_public_keys)),
        (
            "signing_certificates",
            lambda: restore_signing_certificates(user_name, inventory.signing_certificates),
        ),
    )
    for step, write in writes:
        try:
            result = write()
        except Exception as exc:
            return failed(step, exc)
        steps.append(result)
        audit.record(
            step,
            f"restore.{step}",
            # Nothing to put back (already there) is a skip, not a change.
            "done" if result.restored else "skipped",
            resources=result.restored,
            message=_change_note(result),
        )
    return finish(Outcome.restored, steps=tuple(steps))
