"""The offboarding flow: one user through flows.offboarding.offboard_one, as a Prefect flow run
whose final state says how it ended."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from flows.guards.activity import GUARD as ACTIVITY_GUARD
from flows.offboarding import FLOW_NAME, OffboardRequest, offboard_one
from flows.report import OffboardingReport, report_of
from tasks.plan_file import SavedPlan

__all__ = ["FLOW_NAME", "offboard_user", "run_offboarding"]


@flow(name=FLOW_NAME, flow_run_name="offboard-{user_name}", log_prints=False)
def offboard_user(
    user_name: str,
    dry_run: bool = False,
    reason: str | None = None,
    ticket: str | None = None,
    override_activity_guard: bool = False,
    account_id: str | None = None,
    plan: SavedPlan | None = None,
    replan: bool = False,
    override_guards: tuple[str, ...] = (),
) -> OffboardingReport | State[Any]:
    """Delete an IAM user the way the AWS CLI procedure does, or only plan it (``dry_run``).

    Raises InvalidInputError for bad input. Ends with outcome ``refused`` (unknown or protected
    user) before any mutating call. When deletion cannot finish, the user is deactivated and the
    run ends Failed (outcome ``deactivated_pending_deletion``) so that it can be retried.
    With ``account_id``, the user is in that account, reached through its role (see
    tasks.accounts). With ``plan`` (a saved plan), the run is refused before any mutating call
    if IAM has changed since the plan, unless ``replan``. ``override_guards`` names guards to
    override (``override_activity_guard`` is the activity guard's), each with the reason.
    """
    overrides = set(override_guards)
    if override_activity_guard:
        overrides.add(ACTIVITY_GUARD.name)
    report = offboard_one(
        OffboardRequest(
            user_name=user_name,
            account_id=account_id,
            dry_run=dry_run,
            reason=reason,
            ticket=ticket,
            overrides=frozenset(overrides),
            plan=plan,
            replan=replan,
        )
    )
    if report.outcome.ends_run_failed:
        return Failed(message=report.summary(), data=report)
    # The outcome in the state message too, for the UI and `offboard runs`.
    return Completed(message=report.summary(), data=report)


def run_offboarding(
    user_name: str, account_id: str | None = None, **parameters: Any
) -> OffboardingReport:
    """Run the flow in this process and return its report, whatever the run's final state."""
    state = offboard_user(
        user_name=user_name, account_id=account_id, return_state=True, **parameters
    )
    return report_of(state, OffboardingReport)
