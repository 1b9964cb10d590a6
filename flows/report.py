"""What an offboarding run reports: to the CLI (table or JSON), to Prefect (artifact)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from tasks.deactivation import DeactivationChange
from tasks.frozen import Frozen
from tasks.models import StepResult, UserInventory, UserName, UserSummary
from tasks.review import AccessReview
from tasks.snapshot import SnapshotRef

Outcome = Literal[
    "deleted",
    "planned",
    # A step failed and the fallback deactivation failed too, or the snapshot failed.
    "failed",
    # Refused before any mutating call: unknown user or protected principal.
    "refused",
    # Dry runs only: the activity guard would hold the user.
    "held_recently_active",
    "held_review_incomplete",
    # Deletion could not or should not finish (failed step, persistent conflict, activity
    # guard): the user is denied everything and its keys are disabled until a rerun.
    "deactivated_pending_deletion",
]


class StepFailure(Frozen):
    step: str
    error_code: str | None
    action: str | None
    message: str


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


class OffboardingReport(Frozen):
    user_name: UserName
    outcome: Outcome
    dry_run: bool
    reason: str | None = None
    ticket: str | None = None
    run_id: str | None = None
    actor: str | None = None
    user: UserSummary | None = None
    inventory: UserInventory | None = None
    review: AccessReview | None = None
    activity_guard_overridden: bool = False
    snapshot: SnapshotRef | None = None
    deactivation: tuple[DeactivationChange, ...] = ()
    steps: tuple[StepResult, ...] = ()
    failure: StepFailure | None = None
    # What is still attached when the run ends without deleting the user.
    remaining: UserInventory | None = None
    rounds: int = 0
    # Inventories taken (the first and any re-inventory after a DeleteConflict).
    inventory_api_calls: int = 0
    started_at: datetime
    finished_at: datetime

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
