"""Remove the Identity Center session denies whose time has passed (the longest session
duration of their permission sets from the offboarding), audited; scheduled in
deploy/prefect.yaml. Denies written for good (deletion could not finish) stay."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from flows.identity_center import DENY_ACTION, identity_center_instance
from flows.report import Outcome, RunReport, StepFailure
from flows.run_context import run_context
from tasks.identity import caller_identity
from tasks.identity_center.session_deny import SessionDenyChange, prune_session_denies

PRUNE_FLOW_NAME = "prune-identity-center-denies"


class PruneReport(RunReport):
    # What the run is about: every permission set's session denies.
    user_name: str
    pruned: tuple[SessionDenyChange, ...] = ()


@flow(name=PRUNE_FLOW_NAME, log_prints=False)
def prune_identity_center_denies() -> PruneReport | State[Any]:
    """Remove the session denies whose time has passed (the longest session duration of their
    permission sets), audited, and provision the permission sets again."""
    with run_context(PRUNE_FLOW_NAME, "session-denies", PruneReport) as run:
        run.caller = caller_identity()
        run.adopt(run.caller.arn, None)
        state = prune_session_denies(identity_center_instance(), return_state=True)
        if not state.is_completed():
            failure = StepFailure.from_state("session_deny", state)
            run.audit.record(
                "session_deny",
                failure.action or DENY_ACTION,
                "failed",
                error_code=failure.error_code,
                message=failure.message,
            )
            report = run.finish(Outcome.failed, failure=failure)
            return Failed(message=f"failed: {failure.message}", data=report)
        pruned: tuple[SessionDenyChange, ...] = state.result()
        for change in pruned:
            run.audit.record(
                "session_deny",
                DENY_ACTION,
                "done",
                resources=(change.permission_set_arn,),
                message=f"pruned the session deny of identitystore:UserId {change.user_id} "
                f"(until {change.until.isoformat() if change.until else '-'})",
            )
        report = run.finish(Outcome.done, pruned=pruned)
        return Completed(message=f"done: {len(pruned)} pruned", data=report)
