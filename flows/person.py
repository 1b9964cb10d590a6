"""One person, everywhere: an employee id names their Identity Center users (the enterprise
attribute) and their IAM users in every target account (the employee tag); a run offboards all
of them, the Identity Center users first, each with its own run's rails and audit records."""

from __future__ import annotations

from typing import Any

import structlog
from prefect import flow
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from config.settings import get_settings
from flows.batch_models import AccountFailure
from flows.identity_center import (
    IdcOffboardRequest,
    identity_center_instance,
    offboard_identity_center_one,
)
from flows.identity_center_rails import IdcReport
from flows.offboarding import OffboardRequest, offboard_one
from flows.report import Category, OffboardingReport, report_of
from flows.run_context import current_run_id
from flows.targets import NoTargetError, people
from flows.task_calls import call
from tasks.frozen import Frozen
from tasks.identity_center.instance import NoInstanceError
from tasks.identity_center.lookup import user_ids_by_employee

log = structlog.get_logger("offboard.flow")
FLOW_NAME = "offboard-person"
# Worst first: what a person's run exits with when its runs end differently.
_WORST = (Category.failed, Category.held, Category.refused, Category.done)


class PersonTargets(Frozen):
    employee_id: str
    # Identity Center user ids; empty when there is no Identity Center instance.
    identity_center_user_ids: tuple[str, ...] = ()
    iam_users: tuple[tuple[str, str | None], ...] = ()
    account_failures: tuple[AccountFailure, ...] = ()


class PersonReport(Frozen):
    employee_id: str
    dry_run: bool
    identity_center: tuple[IdcReport, ...] = ()
    iam: tuple[OffboardingReport, ...] = ()
    account_failures: tuple[AccountFailure, ...] = ()

    @property
    def category(self) -> Category:
        found = {r.category for r in (*self.identity_center, *self.iam)}
        if self.account_failures:
            found.add(Category.failed)
        return next((c for c in _WORST if c in found), Category.done)

    @property
    def exit_code(self) -> int:
        return self.category.exit_code

    def summary(self) -> str:
        parts = [f"{r.user_name}: {r.outcome}" for r in self.identity_center]
        parts += [f"{r.user_name}: {r.outcome}" for r in self.iam]
        parts += [f"account {f.account_id}: {f.error_code}" for f in self.account_failures]
        return f"{self.category}: " + "; ".join(parts)


def person_targets(employee_id: str, run_id: str | None = None) -> PersonTargets:
    """Everyone the employee id names. NoTargetError when nobody carries it."""
    person = people((employee_id,), every_account=True, run_id=run_id)[employee_id]
    try:
        instance = call(identity_center_instance)
    except NoInstanceError:
        ids: tuple[str, ...] = ()
    else:
        ids = user_ids_by_employee(instance, (employee_id,))[employee_id]
    if not ids and not person.iam_users:
        settings = get_settings()
        raise NoTargetError(
            f"no IAM user carries the tag {settings.employee_tag_key}={employee_id} and no "
            f"Identity Center user has {settings.identity_center_employee_attribute} {employee_id}"
        )
    return PersonTargets(
        employee_id=employee_id,
        identity_center_user_ids=ids,
        iam_users=tuple((t.user_name, t.account_id) for t in person.iam_users),
        account_failures=person.account_failures,
    )


def offboard_person_one(
    employee_id: str,
    dry_run: bool = False,
    reason: str | None = None,
    ticket: str | None = None,
) -> PersonReport:
    targets = person_targets(employee_id, current_run_id())
    log.info(
        "person.targets",
        employee_id=employee_id,
        identity_center=len(targets.identity_center_user_ids),
        iam=len(targets.iam_users),
    )
    common: dict[str, Any] = {"dry_run": dry_run, "reason": reason, "ticket": ticket}
    centre = tuple(
        offboard_identity_center_one(
            IdcOffboardRequest(value=user_id, selector="user_id", **common)
        )
        for user_id in targets.identity_center_user_ids
    )
    iam = tuple(
        offboard_one(OffboardRequest(user_name=name, account_id=account, **common))
        for name, account in targets.iam_users
    )
    return PersonReport(
        employee_id=employee_id,
        dry_run=dry_run,
        identity_center=centre,
        iam=iam,
        account_failures=targets.account_failures,
    )


@flow(name=FLOW_NAME, flow_run_name="offboard-person-{employee_id}", log_prints=False)
def offboard_person(
    employee_id: str,
    dry_run: bool = False,
    reason: str | None = None,
    ticket: str | None = None,
) -> PersonReport | State[Any]:
    """Offboard everyone an employee id names: Identity Center users and IAM users in every
    target account. Raises NoTargetError when nobody carries the id."""
    report = offboard_person_one(employee_id, dry_run=dry_run, reason=reason, ticket=ticket)
    if report.category is Category.failed:
        return Failed(message=report.summary(), data=report)
    return Completed(message=report.summary(), data=report)


def run_person_offboarding(employee_id: str, **parameters: Any) -> PersonReport:
    """Run the flow in this process and return its report, whatever the run's final state."""
    state = offboard_person(employee_id=employee_id, return_state=True, **parameters)
    return report_of(state, PersonReport)
