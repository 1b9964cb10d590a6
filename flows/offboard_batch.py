"""Offboard many users in one run: select them (a list, a tag, a group, or one employee's users
in every account), drop protected principals, cap the blast radius, then run each user's
offboarding concurrently under one IAM call rate.

Each user goes through the single-user logic (``offboard_one``) inside one Prefect task of this
run (its steps stay tasks of their own), on a bounded pool of threads: the audit records of
every user carry this run's id, and one user's failure never stops the others. A subflow per
user would give each its own run, at the price of a flow run each: about ten times slower per
user on a local server.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import structlog
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.states import Failed

from config.logging import ensure_logging
from config.settings import get_settings
from flows.auditing import RunAudit, target_of
from flows.batch_models import (
    BatchPlan,
    BatchReport,
    BatchSelection,
    BatchUser,
    PlannedUser,
    SkippedUser,
)
from flows.batch_plan import check_batch_size, plan_batch
from flows.batch_progress import plan_confirmation
from flows.batch_progress import progress_listener as _progress
from flows.batch_summary import summary_markdown as _summary_markdown
from flows.fan_out import fan_out
from flows.identity_center_rails import IdcReport
from flows.offboarding import OffboardRequest, fall_back_after_error, offboard_one
from flows.reference_scan import scan_for_guards
from flows.report import OffboardingReport, StepFailure, report_of, state_exception
from flows.task_calls import unvisited
from tasks.accounts import in_account
from tasks.errors import retry_transient
from tasks.rate_limit import iam_rate_limit
from tasks.references.scan import ReferenceScan
from tasks.retry_quota import own_retry_quota

log = structlog.get_logger("offboard.flow")
FLOW_NAME = "offboard-batch"


@task(
    name="offboard-one",
    task_run_name="offboard:{request.user_name}",
    # A whole user's run again, for transient errors only: a run raises when a task before the
    # deletion (resolve, inventory, review) ran out of retries, e.g. in a throttling storm once
    # botocore's retry quota is spent. Runs are idempotent, so a rerun picks up where it stopped.
    retries=2,
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
)
def offboard_user_task(request: OffboardRequest) -> OffboardingReport:
    """One user's offboarding, as ``offboard run`` does it."""
    return offboard_one(request)


def _run_user(
    planned: PlannedUser,
    dry_run: bool,
    reason: str | None,
    ticket: str | None,
    run_id: str | None,
    references: ReferenceScan | StepFailure | None = None,
) -> BatchUser:
    request = OffboardRequest(
        user_name=planned.user.user_name,
        account_id=planned.account_id,
        dry_run=dry_run,
        reason=reason,
        ticket=ticket,
        references=references,
        caller=planned.caller,
    )
    # The engine's clients serve every user; a retry quota of the user's own keeps one user's
    # faults from using up the others' retries.
    with in_account(planned.account_id, run_id), own_retry_quota():
        state = offboard_user_task(unvisited(request), return_state=True)
        if state.is_completed():
            report: OffboardingReport = state.result()
        else:
            report = fall_back_after_error(
                request, planned.user, planned.actor, state_exception(state), FLOW_NAME
            )
    return BatchUser(account_id=planned.user.account_id, report=report)


def _batch(
    selection: BatchSelection,
    dry_run: bool,
    allow_large_batch: int | None,
    reason: str | None,
    ticket: str | None,
) -> BatchReport:
    ensure_logging()
    run_id = str(flow_run.id) if flow_run.id else None
    structlog.contextvars.bind_contextvars(run_id=run_id, batch=selection.describe())
    try:
        with iam_rate_limit():
            return _plan_and_run(selection, dry_run, allow_large_batch, reason, ticket, run_id)
    finally:
        structlog.contextvars.unbind_contextvars("run_id", "batch")


def _plan_and_run(
    selection: BatchSelection,
    dry_run: bool,
    allow_large_batch: int | None,
    reason: str | None,
    ticket: str | None,
    run_id: str | None,
) -> BatchReport:
    started = datetime.now(UTC)
    plan = plan_batch(selection, run_id)
    if not dry_run:
        check_batch_size(len(plan.users), allow_large_batch)
        ask = plan_confirmation.get()
        if ask is not None and not ask(plan):
            log.info("batch.declined", users=len(plan.users))
            return _report(selection, plan, (), dry_run, reason, ticket, run_id, started, True)
    log.info(
        "batch.planned",
        users=len(plan.users),
        skipped=len(plan.skipped),
        accounts_failed=len(plan.account_failures),
    )
    for skip in plan.skipped:
        if skip.refusal is not None and not dry_run:
            _audit_refusal(skip, run_id, reason, ticket)
    centre = _identity_center(selection, dry_run, reason, ticket)
    listener = _progress.get()
    if listener is not None:
        listener.planned(plan)
    scans = _scan_accounts(plan.users, run_id)
    users = fan_out(
        plan.users,
        lambda planned: _run_user(
            planned, dry_run, reason, ticket, run_id, scans.get(planned.account_id)
        ),
        listener.finished if listener is not None else None,
    )
    report = _report(
        selection,
        plan,
        tuple(users),
        dry_run,
        reason,
        ticket,
        run_id,
        started,
        scans=scans,
        identity_center=centre,
    )
    log.info("batch.finished", **report.totals)
    if not dry_run:
        create_markdown_artifact(
            key="offboard-batch",
            markdown=_summary_markdown(report),
            description=f"offboarding batch ({selection.describe()})",
        )
    return report


def _report(
    selection: BatchSelection,
    plan: BatchPlan,
    users: tuple[BatchUser, ...],
    dry_run: bool,
    reason: str | None,
    ticket: str | None,
    run_id: str | None,
    started: datetime,
    declined: bool = False,
    scans: dict[str | None, ReferenceScan | StepFailure | None] | None = None,
    identity_center: tuple[IdcReport, ...] = (),
) -> BatchReport:
    settings = get_settings()
    return BatchReport.of(
        run_id=run_id,
        dry_run=dry_run,
        selection=selection,
        reason=reason,
        ticket=ticket,
        users=users,
        identity_center=identity_center,
        skipped=plan.skipped,
        account_failures=plan.account_failures,
        declined=declined,
        reference_scan_calls=_scan_calls(scans or {}),
        concurrency=settings.batch_concurrency,
        iam_calls_per_second=settings.iam_calls_per_second,
        started_at=started,
        finished_at=datetime.now(UTC),
    )


def _scan_accounts(
    users: tuple[PlannedUser, ...], run_id: str | None
) -> dict[str | None, ReferenceScan | StepFailure | None]:
    """One reference scan per account (what the guards read), looked up by each of its users."""
    scans: dict[str | None, ReferenceScan | StepFailure | None] = {}
    # The identity the plan asked once per account names the account: the scan need not ask.
    callers = {planned.account_id: planned.caller for planned in users}
    for account_id, caller in callers.items():
        try:
            with in_account(account_id, run_id):
                scans[account_id] = scan_for_guards(account_id=caller.account if caller else None)
        except Exception as exc:  # the account's users hold on it, the others go on
            scans[account_id] = StepFailure.from_exception("references", exc)
    return scans


def _scan_calls(scans: dict[str | None, ReferenceScan | StepFailure | None]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for scan in scans.values():
        if isinstance(scan, ReferenceScan):
            total.update(scan.calls)
    return dict(sorted(total.items()))


def _identity_center(
    selection: BatchSelection, dry_run: bool, reason: str | None, ticket: str | None
) -> tuple[IdcReport, ...]:
    """An employee's Identity Center users (none without an instance), each with its own rails."""
    if selection.employee_id is None:
        return ()
    from flows.identity_center import (
        IdcOffboardRequest,
        identity_center_instance,
        offboard_identity_center_one,
    )
    from tasks.identity_center.instance import NoInstanceError
    from tasks.identity_center.lookup import user_ids_by_employee

    try:
        instance = identity_center_instance()
    except NoInstanceError:
        return ()
    found = user_ids_by_employee(instance, (selection.employee_id,))[selection.employee_id]
    return tuple(
        offboard_identity_center_one(
            IdcOffboardRequest(
                value=user_id, selector="user_id", dry_run=dry_run, reason=reason, ticket=ticket
            )
        )
        for user_id in found
    )


def _audit_refusal(
    skip: SkippedUser, run_id: str | None, reason: str | None, ticket: str | None
) -> None:
    """The same record a single-user run writes when it refuses the user."""
    assert skip.refusal is not None
    target = target_of(skip.user_name, skip.user)
    if target.account is None:
        target = target.model_copy(update={"account": skip.account_id})
    RunAudit(
        flow=FLOW_NAME, run_id=run_id, actor=skip.actor, target=target, reason=reason, ticket=ticket
    ).refusal(skip.refusal)


@flow(name=FLOW_NAME, log_prints=False)
def offboard_batch(
    selection: BatchSelection,
    dry_run: bool = False,
    allow_large_batch: int | None = None,
    reason: str | None = None,
    ticket: str | None = None,
) -> BatchReport | State[Any]:
    """Offboard every selected user; protected principals are left out and reported.

    Raises BatchTooLargeError (before any mutating call) when more than max_users_per_batch
    users are selected and ``allow_large_batch`` is not at least their number. Ends Failed, with
    the report, when a user was not deleted or an account could not be searched, so that
    operators find and retry it.
    """
    report = _batch(selection, dry_run, allow_large_batch, reason, ticket)
    outcomes = [u.report.outcome for u in report.users]
    outcomes += [r.outcome for r in report.identity_center]
    failing = [outcome for outcome in outcomes if outcome.ends_run_failed]
    unlooked = [s for s in report.skipped if s.reason == "lookup_failed"]
    if failing or unlooked or report.account_failures:
        message = (
            f"{len(failing)} of {len(outcomes)} users not deleted, "
            f"{len(unlooked)} could not be looked up, "
            f"{len(report.account_failures)} accounts unreachable"
        )
        return Failed(message=message, data=report)
    return report


def run_batch(selection: BatchSelection, **parameters: Any) -> BatchReport:
    """Run the batch flow in this process and return its report, whatever the final state."""
    return report_of(
        offboard_batch(selection=selection, return_state=True, **parameters), BatchReport
    )
