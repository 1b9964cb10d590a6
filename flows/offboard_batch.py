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

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

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
    AccountFailure,
    BatchPlan,
    BatchReport,
    BatchSelection,
    BatchTooLargeError,
    BatchUser,
    PlannedUser,
    SkippedUser,
)
from flows.offboarding import OffboardRequest, fall_back_after_error, offboard_one
from flows.protection import refusal
from flows.report import OffboardingReport, state_exception
from tasks.accounts import in_account, target_accounts, users_with_tag
from tasks.aws import own_clients
from tasks.errors import retry_transient
from tasks.identity import CallerIdentity, caller_identity
from tasks.leave import users_by_employee_id
from tasks.listing import list_users
from tasks.rate_limit import iam_rate_limit
from tasks.runtime import retry_options
from tasks.user import find_user

log = structlog.get_logger("offboard.flow")
FLOW_NAME = "offboard-batch"


class BatchProgress(Protocol):
    """Told what the batch will do, then each user's report as it finishes (from any thread)."""

    def planned(self, plan: BatchPlan) -> None: ...

    def finished(self, user: BatchUser) -> None: ...


_progress: ContextVar[BatchProgress | None] = ContextVar("offboard_batch_progress", default=None)


@contextmanager
def reporting_progress(listener: BatchProgress) -> Iterator[None]:
    """Batches run in this context (in this process) report their progress to ``listener``."""
    token = _progress.set(listener)
    try:
        yield
    finally:
        _progress.reset(token)


T = TypeVar("T")
R = TypeVar("R")


def _fan_out(
    items: Sequence[T], work: Callable[[T], R], on_done: Callable[[R], None] | None = None
) -> list[R]:
    """``work`` over ``items`` on at most ``batch_concurrency`` threads, results in input order.

    Each thread runs in a copy of this context, so Prefect's run context, the account scope and
    the log's bound fields follow the work.
    """
    if not items:
        return []
    workers = min(get_settings().batch_concurrency, len(items))
    results: dict[int, R] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="offboard-batch") as pool:
        futures = {
            pool.submit(copy_context().run, work, item): index for index, item in enumerate(items)
        }
        for future in as_completed(futures):
            result = future.result()
            results[futures[future]] = result
            if on_done is not None:
                on_done(result)
    return [results[index] for index in range(len(items))]


group_members = task(name="group-members", task_run_name="members:{group}", **retry_options())(
    list_users
)


def _candidates(
    selection: BatchSelection, run_id: str | None
) -> tuple[dict[str | None, list[str]], list[AccountFailure]]:
    """User names by account, in selection order, without duplicates."""
    found: dict[str | None, list[str]] = {}
    failures: list[AccountFailure] = []

    def add(account_id: str | None, names: Sequence[str]) -> None:
        listed = found.setdefault(account_id, [])
        listed.extend(name for name in names if name not in listed)

    if selection.users:
        for target in selection.users:
            add(target.account_id, [target.user_name])
    elif selection.tag is not None:
        key, _, value = selection.tag.partition("=")
        add(None, users_with_tag(key, value))
    elif selection.group is not None:
        add(None, [user.user_name for user in group_members(group=selection.group)])
    elif selection.employee_id is not None:
        employee = selection.employee_id
        accounts: list[str | None] = [a.account_id for a in target_accounts()] or [None]
        for account_id in accounts:
            try:
                with in_account(account_id, run_id):
                    add(account_id, users_by_employee_id((employee,)).get(employee, ()))
            except Exception as exc:
                failure = AccountFailure.of(account_id, exc)
                log.error("batch.account_failed", account=account_id, error=failure.error_code)
                failures.append(failure)
    return found, failures


def plan_batch(selection: BatchSelection, run_id: str | None = None) -> BatchPlan:
    """Who the batch would offboard, and who it leaves out and why. Reads only."""
    settings = get_settings()
    by_account, failures = _candidates(selection, run_id)
    skipped: list[SkippedUser] = []
    callers: dict[str | None, CallerIdentity] = {}
    for account_id, names in by_account.items():
        try:
            with in_account(account_id, run_id):
                callers[account_id] = caller_identity()
        except Exception as exc:
            failure = AccountFailure.of(account_id, exc)
            failures.append(failure)
            skipped.extend(
                SkippedUser(
                    account_id=account_id,
                    user_name=name,
                    reason="account_unreachable",
                    message=failure.line,
                )
                for name in names
            )

    def resolve(target: tuple[str | None, str]) -> PlannedUser | SkippedUser:
        account_id, name = target
        caller = callers[account_id]
        try:
            with in_account(account_id, run_id), own_clients():
                user = find_user(name)
        except Exception as exc:
            return SkippedUser(
                account_id=caller.account,
                user_name=name,
                reason="lookup_failed",
                message=AccountFailure.of(account_id, exc).line,
                actor=caller.arn,
            )
        refused = refusal(name, user, caller, settings)
        if refused is not None:
            where = f" (account {caller.account})" if account_id else ""
            return SkippedUser(
                account_id=user.account_id if user else caller.account,
                user_name=name,
                reason="not_found" if user is None else "protected",
                message=refused.message + where,
                user=user,
                actor=caller.arn,
                refusal=refused,
            )
        assert user is not None  # refusal() answers for an unknown user
        return PlannedUser(account_id=account_id, user=user, actor=caller.arn)

    targets = [
        (account_id, name)
        for account_id, names in by_account.items()
        if account_id in callers
        for name in names
    ]
    resolved = _fan_out(targets, resolve)
    return BatchPlan(
        users=tuple(r for r in resolved if isinstance(r, PlannedUser)),
        skipped=(*skipped, *(r for r in resolved if isinstance(r, SkippedUser))),
        account_failures=tuple(failures),
    )


def check_batch_size(count: int, allow_large_batch: int | None) -> None:
    """The blast-radius cap: raise BatchTooLargeError unless the batch is small or allowed."""
    limit = get_settings().max_users_per_batch
    if count <= limit or (allow_large_batch is not None and allow_large_batch >= count):
        return
    raise BatchTooLargeError(
        f"{count} users selected, more than max_users_per_batch ({limit}): "
        f"rerun with --allow-large-batch {count} to offboard them all"
    )


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
    planned: PlannedUser, dry_run: bool, reason: str | None, ticket: str | None, run_id: str | None
) -> BatchUser:
    request = OffboardRequest(
        user_name=planned.user.user_name,
        account_id=planned.account_id,
        dry_run=dry_run,
        reason=reason,
        ticket=ticket,
    )
    # Clients of the user's own keep one user's retries from using up the others' budget.
    with in_account(planned.account_id, run_id), own_clients():
        state = offboard_user_task(request, return_state=True)
        if state.is_completed():
            report: OffboardingReport = state.result()
        else:
            report = fall_back_after_error(
                request, planned.user, planned.actor, state_exception(state), FLOW_NAME
            )
    return BatchUser(account_id=planned.user.account_id, report=report)


def _summary_markdown(report: BatchReport) -> str:
    lines = [
        f"# Offboarding batch: {report.selection.describe()}",
        "",
        "- " + ", ".join(f"{name} {count}" for name, count in report.totals.items()),
        "",
        "| account | user | outcome | failure |",
        "|---|---|---|---|",
    ]
    for item in report.users:
        failure = item.report.failure
        where = f"{failure.step}: {failure.error_code}" if failure else ""
        lines.append(
            f"| {item.account_id} | {item.report.user_name} | {item.report.outcome} | {where} |"
        )
    lines += [
        f"| {s.account_id or '-'} | {s.user_name} | skipped: {s.reason} | {s.message} |"
        for s in report.skipped
    ]
    return "\n".join(lines) + "\n"


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
    settings = get_settings()
    started = datetime.now(UTC)
    plan = plan_batch(selection, run_id)
    if not dry_run:
        check_batch_size(len(plan.users), allow_large_batch)
    log.info(
        "batch.planned",
        users=len(plan.users),
        skipped=len(plan.skipped),
        accounts_failed=len(plan.account_failures),
    )
    for skip in plan.skipped:
        if skip.refusal is not None and not dry_run:
            _audit_refusal(skip, run_id, reason, ticket)
    listener = _progress.get()
    if listener is not None:
        listener.planned(plan)
    users = _fan_out(
        plan.users,
        lambda planned: _run_user(planned, dry_run, reason, ticket, run_id),
        listener.finished if listener is not None else None,
    )
    report = BatchReport.of(
        run_id=run_id,
        dry_run=dry_run,
        selection=selection,
        reason=reason,
        ticket=ticket,
        users=tuple(users),
        skipped=plan.skipped,
        account_failures=plan.account_failures,
        concurrency=settings.batch_concurrency,
        iam_calls_per_second=settings.iam_calls_per_second,
        started_at=started,
        finished_at=datetime.now(UTC),
    )
    log.info("batch.finished", **report.totals)
    if not dry_run:
        create_markdown_artifact(
            key="offboard-batch",
            markdown=_summary_markdown(report),
            description=f"offboarding batch ({selection.describe()})",
        )
    return report


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
    failing = [u for u in report.users if u.report.outcome.ends_run_failed]
    unlooked = [s for s in report.skipped if s.reason == "lookup_failed"]
    if failing or unlooked or report.account_failures:
        message = (
            f"{len(failing)} of {len(report.users)} users not deleted, "
            f"{len(unlooked)} could not be looked up, "
            f"{len(report.account_failures)} accounts unreachable"
        )
        return Failed(message=message, data=report)
    return report


def run_batch(selection: BatchSelection, **parameters: Any) -> BatchReport:
    """Run the batch flow in this process and return its report, whatever the final state."""
    state = offboard_batch(selection=selection, return_state=True, **parameters)
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    if not isinstance(result, BatchReport):
        raise RuntimeError(f"offboarding batch ended without a report: {state.message}")
    return result
