"""Saved plans: take one for `offboard plan --out`, and hold `offboard run --plan` to it.

A run that follows a plan removes at most what the plan lists: anything attached since the plan,
or another user under the same name, refuses the run before its first mutating call unless the
operator asks to replan. What is already gone since the plan (a failed run's work, say) is no
change to refuse: the run then removes less than the plan, never more.
"""

from __future__ import annotations

from pathlib import Path

from config.settings import get_settings
from flows.auditing import RunAudit
from flows.protection import refusal
from flows.report import StepFailure
from tasks.deactivation import DENY_POLICY_NAME, LEAVE_POLICY_PREFIX
from tasks.errors import InvalidInputError, OffboardError
from tasks.frozen import Frozen
from tasks.identity import caller_identity
from tasks.inventory import take_inventory
from tasks.models import UserInventory, UserSummary, validate_user_name
from tasks.plan_file import SavedPlan, load_plan, new_plan, write_plan
from tasks.references.scan import scan_references
from tasks.user import find_user
from tasks.user_references import UserReferences


class RefusedError(OffboardError):
    """The user must not be offboarded at all (unknown or protected): exit 2, as `run` does."""


class TakenPlan(Frozen):
    user: UserSummary
    inventory: UserInventory
    actor: str
    # The resource policies naming the user, in every region and service the settings allow.
    references: UserReferences


def take_plan(user_name: str) -> TakenPlan:
    """The user, its inventory and the resource policies naming it, refused by the same check
    as a run. No mutating call."""
    validate_user_name(user_name)
    caller = caller_identity.fn()
    user = find_user.fn(user_name)
    refused = refusal(user_name, user, caller, get_settings())
    if refused is not None:
        raise RefusedError(refused.message)
    assert user is not None  # refusal() answers for an unknown user
    inventory = take_inventory.fn(user_name)
    references = UserReferences.of(scan_references.fn(), user.arn, user.user_id)
    return TakenPlan(user=user, inventory=inventory, actor=caller.arn, references=references)


def save_plan(path: Path, taken: TakenPlan) -> SavedPlan:
    plan = new_plan(taken.user, taken.inventory, created_by=taken.actor)
    write_plan(path, plan)
    return plan


def plan_for_run(
    user_name: str | None, plan_path: Path | None, replan: bool
) -> tuple[str, SavedPlan | None]:
    """The user `run` acts on and the plan it follows; bad arguments or files fail here,
    before any AWS call."""
    if plan_path is None:
        if replan:
            raise InvalidInputError("--replan needs --plan FILE")
        if user_name is None:
            raise InvalidInputError("name the user to offboard, or pass --plan FILE")
        return validate_user_name(user_name), None
    plan = load_plan(plan_path)
    planned = plan.user.user_name
    if user_name is not None and user_name != planned:
        raise InvalidInputError(f"{plan_path}: the plan is for {planned}, not {user_name}")
    return planned, plan


def _engine_own(kind: str, item: str) -> bool:
    """The engine's own deny policies (a failed run's fallback, leave) are not the user's."""
    return kind == "inline_policies" and (
        item == DENY_POLICY_NAME or item.startswith(LEAVE_POLICY_PREFIX)
    )


def plan_changes(plan: SavedPlan, user: UserSummary, inventory: UserInventory) -> tuple[str, ...]:
    """What IAM has now that the plan did not show, in words; empty when the plan still holds."""
    changes: list[str] = []
    if user.user_id != plan.user.user_id:
        changes.append(
            f"unique id {plan.user.user_id} is now {user.user_id} "
            "(the user was deleted and created again)"
        )
    if user.arn != plan.user.arn:
        changes.append(f"ARN {plan.user.arn} is now {user.arn}")
    for kind, ids in inventory.attachments().items():
        planned = set(plan.inventory.items(kind))
        added = [item for item in ids if item not in planned and not _engine_own(kind, item)]
        if added:
            changes.append(f"{kind} added {', '.join(added)}")
    return tuple(changes)


def _gone_since(plan: SavedPlan, inventory: UserInventory) -> str:
    gone = {
        kind: [item for item in ids if item not in inventory.items(kind)]
        for kind, ids in plan.inventory.attachments().items()
    }
    return "; ".join(f"{kind} already gone {', '.join(ids)}" for kind, ids in gone.items() if ids)


def check_plan(
    plan: SavedPlan,
    user: UserSummary,
    inventory: UserInventory,
    replan: bool,
    audit: RunAudit,
) -> StepFailure | None:
    """Right after the run's inventory: refuse (and audit) when IAM changed since the plan,
    unless `replan`; the audit record names the plan's digest either way."""
    changes = "; ".join(plan_changes(plan, user, inventory))
    digest = (plan.digest,)
    if not changes:
        gone = _gone_since(plan, inventory)
        audit.record(
            "plan",
            "plan.verify",
            "done",
            resources=digest,
            message=f"IAM matches plan sha256:{plan.digest}" + (f" ({gone})" if gone else ""),
        )
        return None
    said = f"IAM changed since plan sha256:{plan.digest}: {changes}"
    if replan:
        audit.record(
            "plan",
            "plan.replan",
            "done",
            resources=digest,
            message=f"{said}; --replan: removing what IAM lists now",
        )
        return None
    failure = StepFailure(
        step="plan",
        error_code="PlanOutdated",
        action=None,
        message=f"{said}; take a new plan (offboard plan USER --out FILE) or pass --replan",
    )
    audit.record(
        "plan",
        "plan.verify",
        "skipped",
        resources=digest,
        error_code=failure.error_code,
        message=failure.message,
    )
    return failure
