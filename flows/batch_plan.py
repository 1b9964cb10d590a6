"""A batch's plan: who it would offboard, who it leaves out and why, and the blast-radius cap.
Reads only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from typing import TypeVar

from config.settings import get_settings
from flows.batch_models import (
    AccountFailure,
    BatchPlan,
    BatchSelection,
    BatchTooLargeError,
    PlannedUser,
    SkippedUser,
)
from flows.guards import refusal
from flows.targets import select
from tasks.accounts import in_account
from tasks.aws import own_clients
from tasks.errors import describe_failure
from tasks.identity import CallerIdentity, caller_identity
from tasks.user import find_user

T = TypeVar("T")
R = TypeVar("R")


def _each(items: Sequence[T], work: Callable[[T], R]) -> list[R]:
    """``work`` over ``items`` on at most ``batch_concurrency`` threads, results in input
    order; each item in a copy of this context (Prefect's run, the account scope, log fields)."""
    if not items:
        return []
    workers = min(get_settings().batch_concurrency, len(items))
    contexts = [copy_context() for _ in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="offboard-plan") as pool:
        return list(pool.map(lambda ctx, item: ctx.run(work, item), contexts, items))


def plan_batch(selection: BatchSelection, run_id: str | None = None) -> BatchPlan:
    """Who the batch would offboard, and who it leaves out and why. Reads only."""
    settings = get_settings()
    selected = select(selection, run_id)
    failures: list[AccountFailure] = list(selected.account_failures)
    skipped: list[SkippedUser] = []
    callers: dict[str | None, CallerIdentity] = {}
    by_account = selected.by_account()
    for account_id, names in by_account.items():
        try:
            with in_account(account_id, run_id):
                callers[account_id] = caller_identity()
        except Exception as exc:
            code, _, message = describe_failure(exc)
            failures.append(AccountFailure(account_id=account_id, error_code=code, message=message))
            skipped.extend(
                SkippedUser(
                    account_id=account_id,
                    user_name=name,
                    reason="account_unreachable",
                    message=f"{code}: {message}",
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
            code, _, message = describe_failure(exc)
            return SkippedUser(
                account_id=caller.account,
                user_name=name,
                reason="lookup_failed",
                message=f"{code}: {message}",
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
            )
        assert user is not None  # refusal() answers for an unknown user
        return PlannedUser(account_id=account_id, user=user, actor=caller.arn)

    targets = [
        (account_id, name)
        for account_id, names in by_account.items()
        if account_id in callers
        for name in names
    ]
    resolved = _each(targets, resolve)
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
