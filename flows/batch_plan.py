"""A batch's plan: who it would offboard, who it leaves out and why, and the blast-radius cap.
Reads only."""

from __future__ import annotations

from config.settings import get_settings
from flows.batch_models import (
    AccountFailure,
    BatchPlan,
    BatchSelection,
    BatchTooLargeError,
    PlannedUser,
    SkippedUser,
)
from flows.fan_out import fan_out
from flows.protection import refusal
from flows.targets import select
from tasks.accounts import in_account
from tasks.identity import CallerIdentity, caller_identity
from tasks.retry_quota import own_retry_quota
from tasks.user import find_user


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
            with in_account(account_id, run_id), own_retry_quota():
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
        return PlannedUser(account_id=account_id, user=user, actor=caller.arn, caller=caller)

    targets = [
        (account_id, name)
        for account_id, names in by_account.items()
        if account_id in callers
        for name in names
    ]
    resolved = fan_out(targets, resolve)
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
