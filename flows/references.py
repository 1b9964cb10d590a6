"""After a deletion: take a deleted user's dangling principal (its ARN, or the unique id AWS shows
in its place) out of every resource policy that still names it.

Scan the account, then clean each resource on its own: the old document goes into the audit
record and, once every resource is done, into a references snapshot; a KMS key that would lose
every administrator is left as it was (reported) and the others go on. A second clean finds
nothing and changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

import structlog
from prefect import flow

from audit.records import AuditTarget
from config.settings import get_settings
from flows.dangling import Principals, dangling_principals
from flows.report import Outcome, RunReport, StepFailure, state_exception
from flows.run_context import RunContext, run_context
from tasks.errors import OffboardError
from tasks.frozen import Frozen
from tasks.identity import caller_identity
from tasks.reference_snapshot import ReferencesSnapshot, write_references_snapshot
from tasks.references.clean import Cleaned, clean_resource
from tasks.references.found import NotScanned, Reference
from tasks.references.kms_keys import KeyWouldLoseEveryAdministrator
from tasks.references.scan import ReferenceScan, scan_references
from tasks.snapshot import SnapshotRef
from tasks.user import find_user
from tasks.user_references import UserReferences

log = structlog.get_logger("offboard.flow")
FLOW_NAME = "clean-references"

ResourceOutcome = Literal["cleaned", "unchanged", "would_clean", "refused", "failed"]


class RefusedError(OffboardError):
    """Nobody knows the user to scan for (not in IAM, not in the audit trail): exit 2."""


class ResourceResult(Frozen):
    service: str
    resource_arn: str
    # The statements (Sid or index) naming the user, as the scan found them.
    statements: tuple[str, ...]
    outcome: ResourceOutcome
    error_code: str | None = None
    message: str | None = None


class ReferencesReport(RunReport):
    # As given: a user name or a unique id.
    user_name: str
    account: str | None = None
    dry_run: bool = False
    principals: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    found: tuple[Reference, ...] = ()
    not_scanned: tuple[NotScanned, ...] = ()
    resources: tuple[ResourceResult, ...] = ()
    snapshot: SnapshotRef | None = None

    @property
    def left(self) -> tuple[ResourceResult, ...]:
        """Resources still naming the user after a real clean (refused or failed)."""
        return tuple(r for r in self.resources if r.outcome in ("refused", "failed"))


Run = RunContext[ReferencesReport]


def _target(principals: Principals, account: str) -> AuditTarget:
    return AuditTarget(
        account=account,
        user_name=principals.user_name or principals.given,
        user_arn=principals.arn,
        user_id=principals.unique_ids[-1] if principals.unique_ids else None,
    )


def resolve_principals(run: Run, value: str) -> Principals | StepFailure:
    """Who calls and which principals to look for, or why the clean is refused."""
    caller = caller_identity()
    found = dangling_principals(value, run.settings.audit_log, find_user)
    if isinstance(found, StepFailure):
        run.adopt(caller.arn, None)
        return found
    run.adopt(caller.arn, found.live, _target(found, caller.account))
    run.fields.update(principals=found.names, account=caller.account)
    return found


def scan_user(value: str) -> tuple[Principals, UserReferences]:
    """``offboard references scan``: the statements naming a user (live or deleted) in every
    region and service the settings allow. Reads only; refused (RefusedError) when nobody
    knows the user."""
    found = dangling_principals(value, get_settings().audit_log, find_user.fn, allow_live=True)
    if isinstance(found, StepFailure):
        raise RefusedError(found.message)
    return found, UserReferences.of(scan_references.fn(), *found.names)


def _by_resource(found: list[Reference]) -> dict[tuple[str, str], tuple[str, ...]]:
    grouped: dict[tuple[str, str], list[str]] = {}
    for reference in found:
        grouped.setdefault((reference.service, reference.resource_arn), []).append(
            reference.statement
        )
    return {key: tuple(dict.fromkeys(sids)) for key, sids in grouped.items()}


def _clean_one(
    run: Run, service: str, arn: str, statements: tuple[str, ...], names: tuple[str, ...]
) -> tuple[ResourceResult, Cleaned | None]:
    state = clean_resource(service, arn, names, return_state=True)
    if state.is_completed():
        cleaned: Cleaned = state.result()
        if cleaned.old_document is None:
            run.audit.record("references", f"{service}.clean", "already_absent", resources=(arn,))
            return ResourceResult(
                service=service, resource_arn=arn, statements=statements, outcome="unchanged"
            ), None
        run.audit.record(
            "references",
            f"{service}.clean",
            "done",
            resources=(arn,),
            message="old document: " + json.dumps(cleaned.old_document, sort_keys=True),
        )
        return ResourceResult(
            service=service, resource_arn=arn, statements=statements, outcome="cleaned"
        ), cleaned
    exc = state_exception(state)
    failure = StepFailure.from_exception("references", exc)
    refused = isinstance(exc, KeyWouldLoseEveryAdministrator)
    code = "KeyWouldLoseEveryAdministrator" if refused else failure.error_code
    message = (
        f"left as it was: the key would lose every administrator ({exc}); add another "
        "administrator, then clean again"
        if refused
        else f"{failure.error_code} on {failure.action or '-'}: {failure.message}"
    )
    run.audit.record(
        "references",
        failure.action or f"{service}.clean",
        "skipped" if refused else "failed",
        resources=(arn,),
        error_code=code,
        message=message,
    )
    log.warning("references.clean_left", resource=arn, error=code)
    return ResourceResult(
        service=service,
        resource_arn=arn,
        statements=statements,
        outcome="refused" if refused else "failed",
        error_code=code,
        message=message,
    ), None


def _snapshot(
    run: Run, principals: Principals, cleaned: list[Cleaned]
) -> SnapshotRef | StepFailure:
    snapshot = ReferencesSnapshot(
        taken_at=datetime.now(UTC),
        run_id=run.run_id,
        account_id=str(run.fields["account"]),
        user=principals.user_name or principals.given,
        principals=principals.names,
        cleaned=tuple(cleaned),
    )
    state = write_references_snapshot(snapshot, return_state=True)
    ref = run.audit.snapshot_written(state)
    return ref


def _clean(run: Run, principals: Principals, scan: ReferenceScan) -> ReferencesReport:
    names = principals.names
    found = scan.naming(*names)
    run.fields.update(
        services=tuple(scan.services),
        regions=tuple(scan.regions),
        found=tuple(found),
        not_scanned=tuple(scan.not_scanned),
    )
    grouped = _by_resource(found)
    if run.dry_run:
        planned = tuple(
            ResourceResult(service=s, resource_arn=a, statements=sids, outcome="would_clean")
            for (s, a), sids in grouped.items()
        )
        return run.finish(Outcome.planned, resources=planned)
    results: list[ResourceResult] = []
    cleaned: list[Cleaned] = []
    for (service, arn), statements in grouped.items():
        result, done = _clean_one(run, service, arn, statements, names)
        results.append(result)
        if done is not None:
            cleaned.append(done)
    kept = _snapshot(run, principals, cleaned) if cleaned else None
    snapshot = kept if isinstance(kept, SnapshotRef) else None
    failure = kept if isinstance(kept, StepFailure) else None
    left = [r for r in results if r.outcome in ("refused", "failed")]
    if left:
        first = left[0]
        failure = StepFailure(
            step="references",
            error_code=first.error_code,
            action=None,
            message=f"{len(left)} of {len(results)} resources still name the user: "
            + "; ".join(f"{r.resource_arn}: {r.message}" for r in left),
        )
    outcome = Outcome.failed if failure is not None else Outcome.done
    return run.finish(outcome, resources=tuple(results), snapshot=snapshot, failure=failure)


@flow(name=FLOW_NAME, flow_run_name="references-clean-{user}", log_prints=False)
def clean_references(
    user: str, dry_run: bool = False, reason: str | None = None, ticket: str | None = None
) -> ReferencesReport:
    """Remove a deleted user's principal (USER's ARN and unique ids from the audit trail, or the
    unique id given) from every resource policy statement naming it; a statement goes when it
    was its only principal. ``dry_run``: report what would change, change nothing.

    Refused (outcome ``refused``) before any change when the user still exists or nobody knows
    its unique id. Ends ``failed`` when a resource could not be cleaned (the others are)."""
    with run_context(
        FLOW_NAME, user, ReferencesReport, dry_run=dry_run, reason=reason, ticket=ticket
    ) as run:
        principals = resolve_principals(run, user)
        if isinstance(principals, StepFailure):
            return run.refuse(principals)
        state = scan_references(return_state=True)
        if not state.is_completed():
            failure = StepFailure.from_state("references", state)
            run.audit.record(
                "references",
                failure.action or "references.scan",
                "failed",
                error_code=failure.error_code,
                message=failure.message,
            )
            return run.finish(Outcome.failed, failure=failure)
        return _clean(run, principals, state.result())
