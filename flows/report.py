"""What an offboarding run reports: to the CLI (table or JSON), to Prefect (artifact)."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from prefect.client.schemas.objects import State

from tasks.deactivation import DeactivationChange
from tasks.errors import describe_failure
from tasks.frozen import Frozen
from tasks.models import StepResult, UserInventory, UserName, UserSummary
from tasks.review import AccessReview
from tasks.snapshot import SnapshotRef
from tasks.user_references import UserReferences

ReportT = TypeVar("ReportT")


class Category(StrEnum):
    """What an outcome means to an operator; the exit code follows from it."""

    done = "done"
    failed = "failed"
    held = "held"
    refused = "refused"

    @property
    def exit_code(self) -> int:
        return CATEGORY_EXIT[self]


# The exit codes every command shares (README "Command line"); 4 and 5 are the CLI's own:
# the audit log is torn or foreign, and not confirmed at the prompt.
CATEGORY_EXIT = {Category.done: 0, Category.failed: 1, Category.refused: 2, Category.held: 3}


class Outcome(StrEnum):
    """How a run ended: the one vocabulary of every flow's report."""

    deleted = "deleted"
    planned = "planned"
    renamed = "renamed"
    restored = "restored"
    # A deactivation or reactivation did what it was asked.
    done = "done"
    # A step failed and the fallback deactivation failed too, or the snapshot failed.
    failed = "failed"
    # Refused before any mutating call: bad precondition, unknown user or protected principal.
    refused = "refused"
    # Dry runs only: a guard would hold the user (the activity guard has its own two).
    held_recently_active = "held_recently_active"
    held_review_incomplete = "held_review_incomplete"
    # The user is the only administrator of a KMS key that does not trust the account root,
    # or the key policies could not all be read: deleting could orphan a key.
    held_kms_sole_admin = "held_kms_sole_admin"
    held = "held"
    # Deletion could not or should not finish (failed step, persistent conflict, a guard): the
    # user is denied everything and its keys are disabled until a rerun.
    deactivated_pending_deletion = "deactivated_pending_deletion"

    @property
    def category(self) -> Category:
        return _OUTCOME_CATEGORY.get(self, Category.done)

    @property
    def ends_run_failed(self) -> bool:
        """Outcomes that leave the flow run Failed, so operators find and retry it."""
        return self in (Outcome.failed, Outcome.deactivated_pending_deletion)


_OUTCOME_CATEGORY = {
    Outcome.failed: Category.failed,
    Outcome.deactivated_pending_deletion: Category.failed,
    Outcome.refused: Category.refused,
    Outcome.held_recently_active: Category.held,
    Outcome.held_review_incomplete: Category.held,
    Outcome.held_kms_sole_admin: Category.held,
    Outcome.held: Category.held,
}


class FailureKind(StrEnum):
    """Why a run did not do what it was asked; the CLI and the batch read this, not steps."""

    # Bad precondition found in AWS (a taken name, nothing to change, an outdated plan, ...).
    refused = "refused"
    not_found = "not_found"
    protected = "protected"
    # A guard holds the user; ``hold`` names the outcome a dry run reports.
    held = "held"
    step_failed = "step_failed"
    # DeleteUser still conflicts after every round.
    conflict = "conflict"
    audit_unwritable = "audit_unwritable"

    @property
    def refuses(self) -> bool:
        return self in (FailureKind.refused, FailureKind.not_found, FailureKind.protected)


class StepFailure(Frozen):
    step: str
    error_code: str | None
    action: str | None
    message: str
    kind: FailureKind = FailureKind.step_failed
    # For a hold: the guard's name and the outcome it gives (its category and exit code).
    guard: str | None = None
    hold: Outcome | None = None

    @classmethod
    def from_exception(
        cls, step: str, exc: BaseException, kind: FailureKind = FailureKind.step_failed
    ) -> StepFailure:
        code, action, message = describe_failure(exc)
        return cls(step=step, error_code=code, action=action, message=message, kind=kind)

    @classmethod
    def from_state(cls, step: str, state: State[Any]) -> StepFailure:
        """A task's failed (or crashed) state: its exception, or the state's message."""
        return cls.from_exception(step, state_exception(state))


def state_exception(state: State[Any]) -> BaseException:
    """What a task's failed state raised (a RuntimeError with its message if nothing was)."""
    exc = state.result(raise_on_failure=False)
    if isinstance(exc, BaseException):
        return exc
    return RuntimeError(state.message or "the task failed")


def report_of(state: State[Any], kind: type[ReportT]) -> ReportT:
    """The report a flow run ended with, whatever its final state; what it raised, raised
    again; RuntimeError if it ended with no report."""
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    if not isinstance(result, kind):
        raise RuntimeError(f"the run ended without a report: {state.message}")
    return result


def category_of(outcome: Outcome, failure: StepFailure | None) -> Category:
    """The outcome's category, except that a user deactivated because a guard held it is held."""
    if failure is not None and failure.kind is FailureKind.held:
        return failure.hold.category if failure.hold else Category.held
    return outcome.category


def exit_code_of(outcome: Outcome, failure: StepFailure | None) -> int:
    return category_of(outcome, failure).exit_code


class RunReport(Frozen):
    """What every flow's report shares."""

    outcome: Outcome
    run_id: str | None = None
    actor: str | None = None
    failure: StepFailure | None = None
    started_at: datetime | None = None
    finished_at: datetime

    @property
    def category(self) -> Category:
        return category_of(self.outcome, self.failure)

    @property
    def exit_code(self) -> int:
        return self.category.exit_code


# The run's state message: "OUTCOME" or "OUTCOME: STEP (CODE on ACTION): WHY" (see summary()).
_SUMMARY = re.compile(
    r"^(?P<outcome>[a-z_]+)(?:: (?P<step>[^ :]+)(?: \((?P<error_code>[^ )]+)"
    r"(?: on (?P<action>[^ )]+))?\))?: (?P<message>.*))?$",
    re.DOTALL,
)


def parse_summary(message: str | None) -> dict[str, str | None]:
    """The parts of a run's state message written by :meth:`OffboardingReport.summary`."""
    found = _SUMMARY.match(message or "")
    keys = ("outcome", "step", "error_code", "action", "message")
    return {key: found.group(key) if found else None for key in keys}


class OffboardingReport(RunReport):
    user_name: UserName
    dry_run: bool
    reason: str | None = None
    ticket: str | None = None
    user: UserSummary | None = None
    inventory: UserInventory | None = None
    review: AccessReview | None = None
    # The resource policies naming the user, as far as the run scanned (what its guards read).
    references: UserReferences | None = None
    activity_guard_overridden: bool = False
    guards_overridden: tuple[str, ...] = ()
    snapshot: SnapshotRef | None = None
    deactivation: tuple[DeactivationChange, ...] = ()
    steps: tuple[StepResult, ...] = ()
    # What is still attached when the run ends without deleting the user.
    remaining: UserInventory | None = None
    rounds: int = 0
    # Inventories taken (the first and any re-inventory after a DeleteConflict).
    inventory_api_calls: int = 0
    started_at: datetime

    def summary(self) -> str:
        """One line for the run's state message, so the UI and `offboard runs` show the
        outcome and, when it failed, the step, the IAM action and why."""
        failure = self.failure
        if failure is None:
            return self.outcome
        where = failure.step
        if failure.error_code:
            action = f" on {failure.action}" if failure.action else ""
            where += f" ({failure.error_code}{action})"
        return f"{self.outcome}: {where}: {failure.message}"

    @property
    def completed_steps(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(result.step for result in self.steps))

    @property
    def resolve_api_calls(self) -> int:
        return self.user.api_calls if self.user else 0

    @property
    def deletion_api_calls(self) -> int:
        """Lists and deletes: the inventory plus every step."""
        return self.inventory_api_calls + sum(result.api_calls for result in self.steps)

    @property
    def safety_api_calls(self) -> int:
        """Review and snapshot calls, reported apart from the deletion calls."""
        review = self.review.api_calls if self.review else 0
        snapshot = self.snapshot.api_calls if self.snapshot else 0
        return review + snapshot
