"""One user's offboarding, whole: resolve -> refuse -> inventory and review -> guards ->
snapshot -> the seed's ten deletion steps -> fall back to deactivation when deletion cannot
finish. ``offboard_one`` is what the single-user flow, the batch, reruns and the HR webhook run;
it never raises for a failure it can report."""

from __future__ import annotations

import dataclasses
from contextlib import AbstractContextManager

import structlog

from flows.deactivation import apply_deactivation
from flows.deletion import run_deletion
from flows.guards import GuardInput, GuardsPassed, Held, ask_guards, check_overrides
from flows.guards.kms import REFERENCES
from flows.reference_scan import scan_for_guards
from flows.report import FailureKind, OffboardingReport, Outcome, StepFailure
from flows.report_artifact import publish_report
from flows.run_context import RunContext, current_run_id, run_context
from flows.saved_plan import check_plan
from flows.task_calls import call, unvisited
from flows.write_ahead import (
    TRAIL_ERRORS,
    best_effort,
    earlier_deletion,
    half_offboarded,
    record_earlier_deletion,
    trail_failure,
)
from tasks.accounts import in_account
from tasks.aws import current_account_id
from tasks.frozen import Frozen
from tasks.identity import CallerIdentity
from tasks.inventory import take_inventory
from tasks.models import UserInventory, UserName, UserSummary
from tasks.plan_file import SavedPlan
from tasks.references.scan import ReferenceScan
from tasks.review import AccessReview, review_access
from tasks.side_by_side import at_once
from tasks.snapshot import SnapshotRef, take_snapshot
from tasks.user_references import UserReferences

log = structlog.get_logger("offboard.flow")
FLOW_NAME = "offboard-user"
Run = RunContext[OffboardingReport]


class OffboardRequest(Frozen):
    user_name: UserName
    # The account the user is in, reached through its role (tasks.accounts); None: the
    # engine's own.
    account_id: str | None = None
    dry_run: bool = False
    reason: str | None = None
    ticket: str | None = None
    # Guards to override by name (each needs the reason).
    overrides: frozenset[str] = frozenset()
    # A saved plan: refused before any mutating call if IAM changed since, unless replan.
    plan: SavedPlan | None = None
    replan: bool = False
    # The account's reference scan (or its failure), taken once by a batch for all of its
    # users; None: the run scans what its guards read.
    references: ReferenceScan | StepFailure | None = None
    # Scan every service the settings allow, not only what the guards read (plan, review).
    scan_everything: bool = False
    # The engine's identity in the account as a batch's plan asked it, once for all of the
    # account's users; None: the run asks.
    caller: CallerIdentity | None = None


def offboard_one(request: OffboardRequest) -> OffboardingReport:
    """Delete the user the way the AWS CLI procedure does, or only plan it (``dry_run``).

    Raises InvalidInputError for bad input, before any AWS call. Ends ``refused`` (unknown or
    protected user, outdated plan) before any mutating call; when deletion cannot or should
    not finish, the user is deactivated (``deactivated_pending_deletion``)."""
    overrides = check_overrides(request.overrides, request.reason)
    if request.account_id is not None and current_account_id() != request.account_id:
        # Everything below, IAM calls and caller identity included, acts in that account.
        with in_account(request.account_id, current_run_id()) as scoped:
            # None: the engine's own account, reached with its own credentials.
            return offboard_one(request.model_copy(update={"account_id": scoped}))
    with _context(request, FLOW_NAME) as run:
        try:
            report = _phases(run, request, overrides)
        except TRAIL_ERRORS as exc:
            # A record before the deletion steps could not be written.
            log.error("offboard.audit_unwritable", error=str(exc))
            failure = trail_failure("audit", run.settings.audit_log, exc)
            if run.user is None or "user" not in run.fields:
                report = run.finish(Outcome.failed, failure=failure)  # nothing was changed yet
            else:
                report = fall_back(run, failure)
    if not request.dry_run:
        publish_report(report)
    return report


def _context(request: OffboardRequest, flow: str) -> AbstractContextManager[Run]:
    return run_context(
        flow,
        request.user_name,
        OffboardingReport,
        dry_run=request.dry_run,
        reason=request.reason,
        ticket=request.ticket,
    )


def _phases(run: Run, request: OffboardRequest, overrides: frozenset[str]) -> OffboardingReport:
    refused = _refuse(run, request.caller)
    if isinstance(refused, OffboardingReport):
        return refused
    inventory = _inventory(run, request)
    if isinstance(inventory, OffboardingReport):
        return inventory
    held = _guards(run, inventory, overrides, request)
    if held is not None:
        hold = held.failure
        if request.dry_run or not held.guard.deactivates:
            assert hold.hold is not None
            return run.finish(hold.hold, failure=hold)
        return fall_back(run, hold)
    if request.dry_run:
        return run.finish(Outcome.planned)
    snapshot = _snapshot(run, inventory)
    if isinstance(snapshot, OffboardingReport):
        return snapshot
    deletion = run_deletion(run.user_name, inventory, run.audit)
    run.fields.update(
        steps=tuple(deletion.steps),
        rounds=deletion.rounds,
        remaining=deletion.remaining,
        inventory_api_calls=deletion.inventory_api_calls,
    )
    if deletion.failure:
        return fall_back(run, deletion.failure, deletion.remaining)
    return run.finish(Outcome.deleted)


def _refuse(run: Run, caller: CallerIdentity | None = None) -> OffboardingReport | None:
    """Unknown or protected: refused. A user gone from IAM may have been deleted by an earlier
    attempt whose intent the trail holds: then that attempt's deletion is this run's."""
    refused = run.resolve(caller=caller)
    if refused is not None and run.user is None and not run.dry_run:
        assert run.caller is not None
        earlier = earlier_deletion(run.audit, run.user_name, run.caller.account, run.run_id)
        if earlier is not None and earlier.problem is None:
            audit = dataclasses.replace(run.audit, target=earlier.intent.target)
            result = record_earlier_deletion(audit, earlier)
            return run.finish(
                Outcome.deleted, user=earlier.user, snapshot=earlier.snapshot, steps=(result,)
            )
        if earlier is not None:
            refused = refused.model_copy(
                update={
                    "message": f"{refused.message}; the audit trail shows run "
                    f"{earlier.intent.run_id} was about to delete it (seq "
                    f"{earlier.intent.seq}), but {earlier.problem}"
                }
            )
    if refused is not None:
        return run.refuse(refused)
    run.fields["user"] = run.user
    return None


def _inventory(run: Run, request: OffboardRequest) -> UserInventory | OffboardingReport:
    inventory = call(take_inventory, run.user_name)
    run.fields.update(inventory=inventory, inventory_api_calls=inventory.api_calls)
    log.info("offboard.inventory", attachments=inventory.attachments(), dry_run=run.dry_run)
    if request.plan is not None:
        assert run.user is not None
        outdated = check_plan(request.plan, run.user, inventory, request.replan, run.audit)
        if outdated is not None:
            return run.finish(Outcome.refused, failure=outdated)
    return inventory


def _guards(
    run: Run,
    inventory: UserInventory,
    overrides: frozenset[str],
    request: OffboardRequest,
) -> Held | None:
    """The access review, audited, the reference scan the guards read (the request's, or taken
    here, side by side with the review: both only read), then every guard: the hold that stops
    the run, or None."""
    user = run.user
    assert user is not None
    found_review, found_scan = at_once(
        lambda: call(review_access, user, inventory),
        # What the guards read; not audited (a read): a hold's record names what it found.
        lambda: (
            request.references
            or scan_for_guards(
                everything=request.scan_everything,
                account_id=run.caller.account if run.caller else None,
            )
        ),
    )
    review: AccessReview = found_review
    scan: ReferenceScan | StepFailure | None = found_scan
    run.fields["review"] = review
    last = review.last_activity
    run.audit.record(
        "review",
        "review.access",
        "done" if review.complete else "failed",
        resources=tuple(s.namespace for s in review.used_services),
        message=review.incomplete_reason
        or f"last activity {last.isoformat() if last else 'never'}",
    )
    if isinstance(scan, ReferenceScan):
        run.fields["references"] = UserReferences.of(scan, user.arn, user.user_id)
    found = GuardInput(
        user=user,
        inventory=inventory,
        review=review,
        settings=run.settings,
        extra={REFERENCES: scan},
    )
    answer = ask_guards(found, overrides, run.audit)
    if isinstance(answer, GuardsPassed):
        run.fields["guards_overridden"] = answer.overridden
        run.fields["activity_guard_overridden"] = "activity" in answer.overridden
        return None
    return answer


def _snapshot(run: Run, inventory: UserInventory) -> SnapshotRef | OffboardingReport:
    review = run.fields["review"]
    state = take_snapshot(
        unvisited(run.user),
        unvisited(inventory),
        unvisited(review),
        run.run_id,
        references=unvisited(run.fields.get("references")),
        return_state=True,
    )
    snapshot = run.audit.snapshot_written(state)
    if isinstance(snapshot, StepFailure):
        return run.finish(Outcome.failed, failure=snapshot)
    run.fields["snapshot"] = snapshot
    return snapshot


def fall_back(
    run: Run, failure: StepFailure, remaining: UserInventory | None = None
) -> OffboardingReport:
    """Deletion cannot finish: deny everything and disable the keys until a rerun.
    Protective, so a record that cannot be written does not stop it."""
    try:
        changes = apply_deactivation(run.user_name, None, True, best_effort(run.audit))
    except Exception as exc:
        cause = StepFailure.from_exception("deactivate", exc)
        log.error("offboard.fallback_failed", error=cause.error_code, action=cause.action)
        if failure.kind is FailureKind.audit_unwritable:
            left = remaining or run.fields.get("inventory")
            failure = half_offboarded(failure, f"{cause.error_code} on {cause.action or '-'}", left)
        return run.finish(Outcome.failed, failure=failure)
    return run.finish(Outcome.deactivated_pending_deletion, failure=failure, deactivation=changes)


def fall_back_after_error(
    request: OffboardRequest, user: UserSummary, actor: str | None, exc: BaseException, flow: str
) -> OffboardingReport:
    """A user's run raised (a task before the deletion ran out of retries): audit it and, as
    when deletion cannot finish, deny the user everything until a rerun."""
    with _context(request, flow) as run:
        failure = StepFailure.from_exception("run", exc)
        log.error("batch.user_failed", error=failure.error_code, action=failure.action)
        run.adopt(actor, user)
        run.fields["user"] = user
        run.audit.failed(failure, "offboard.run")
        if request.dry_run:
            return run.finish(Outcome.failed, failure=failure)
        return fall_back(run, failure)
