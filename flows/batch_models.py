"""What a batch selects, plans and reports: frozen models shared by the flow and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from flows.identity_center_rails import IdcReport
from flows.report import Category, OffboardingReport, StepFailure
from tasks.accounts import AccountId
from tasks.errors import InvalidInputError
from tasks.frozen import Frozen
from tasks.identity import CallerIdentity
from tasks.models import UserName, UserSummary

# lookup_failed: the user could not be looked up (after retries); the others go on.
SkipReason = Literal["protected", "not_found", "account_unreachable", "lookup_failed"]


class BatchTarget(Frozen):
    user_name: UserName
    # None: the account of the engine's own credentials.
    account_id: AccountId | None = None


class BatchSelection(Frozen):
    """Exactly one way of choosing the users."""

    users: tuple[BatchTarget, ...] = ()
    # KEY=VALUE
    tag: str | None = None
    group: str | None = None
    # That person's users in every account (the employee_tag_key tag).
    employee_id: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> BatchSelection:
        others = (self.tag, self.group, self.employee_id)
        if sum([bool(self.users), *(value is not None for value in others)]) != 1:
            raise ValueError("choose the users one way: users, tag, group or employee_id")
        if self.tag is not None and not self.tag.partition("=")[0]:
            raise ValueError(f"tag must be KEY=VALUE, not {self.tag!r}")
        return self

    def describe(self) -> str:
        if self.tag is not None:
            return f"tag {self.tag}"
        if self.group is not None:
            return f"group {self.group}"
        if self.employee_id is not None:
            return f"employee {self.employee_id}"
        return f"{len(self.users)} listed users"


class PlannedUser(Frozen):
    # As selected; None: reached with the engine's own credentials.
    account_id: str | None
    user: UserSummary
    # Who acts on the user: the engine's identity in that account.
    actor: str
    # That identity in full, asked once per account by the plan; the user's run reuses it.
    caller: CallerIdentity | None = None


class SkippedUser(Frozen):
    # The account looked in (None only when it could not be reached).
    account_id: str | None
    user_name: str
    reason: SkipReason
    message: str
    # What the refusal's audit record names: the user as found, who would have acted, and
    # the refusal itself (unknown or protected).
    user: UserSummary | None = None
    actor: str | None = None
    refusal: StepFailure | None = None


class AccountFailure(Frozen):
    """An account the batch could not search or act in (e.g. the role cannot be assumed)."""

    account_id: str | None
    error_code: str | None
    message: str

    @classmethod
    def of(cls, account_id: str | None, exc: BaseException) -> AccountFailure:
        failure = StepFailure.from_exception("account", exc)
        return cls(account_id=account_id, error_code=failure.error_code, message=failure.message)

    @property
    def line(self) -> str:
        return f"{self.error_code}: {self.message}"


class BatchPlan(Frozen):
    users: tuple[PlannedUser, ...] = ()
    skipped: tuple[SkippedUser, ...] = ()
    account_failures: tuple[AccountFailure, ...] = ()


class BatchUser(Frozen):
    # The account the user is in.
    account_id: str
    report: OffboardingReport

    @property
    def category(self) -> Category:
        return self.report.category


def _counts(
    users: Sequence[BatchUser], skipped: Sequence[SkippedUser]
) -> tuple[dict[str, int], dict[str, int]]:
    outcomes: dict[str, int] = {}
    for item in users:
        outcomes[item.report.outcome] = outcomes.get(item.report.outcome, 0) + 1
    for skip in skipped:
        outcomes[skip.reason] = outcomes.get(skip.reason, 0) + 1
    categories = {str(name): 0 for name in Category}
    for item in users:
        categories[item.category] += 1
    categories["skipped"] = len(skipped)
    return outcomes, categories


class BatchReport(Frozen):
    run_id: str | None
    dry_run: bool
    selection: BatchSelection
    reason: str | None = None
    ticket: str | None = None
    users: tuple[BatchUser, ...] = ()
    # An employee's Identity Center users, offboarded beside their IAM users.
    identity_center: tuple[IdcReport, ...] = ()
    # Never offboarded: protected principals, unknown users, users in unreachable accounts.
    skipped: tuple[SkippedUser, ...] = ()
    account_failures: tuple[AccountFailure, ...] = ()
    # The plan was shown and not confirmed: nothing was changed or audited.
    declined: bool = False
    # Users and skips by outcome (deleted, deactivated_pending_deletion, protected, ...).
    counts: dict[str, int] = Field(default_factory=dict)
    # Users by category (done, failed, held, refused) and the number skipped.
    totals: dict[str, int] = Field(default_factory=dict)
    # The reference scans' calls ("service:Operation" -> n): one scan per account serves every
    # user, so they are reported apart from the users' own calls.
    reference_scan_calls: dict[str, int] = Field(default_factory=dict)
    concurrency: int
    iam_calls_per_second: float
    started_at: datetime
    finished_at: datetime

    @model_validator(mode="after")
    def _counts_match(self) -> BatchReport:
        if (self.counts, self.totals) != _counts(self.users, self.skipped):
            raise ValueError("counts and totals must match users and skipped (use BatchReport.of)")
        return self

    @classmethod
    def of(cls, **fields: Any) -> BatchReport:
        counts, totals = _counts(fields.get("users", ()), fields.get("skipped", ()))
        return cls(**fields, counts=counts, totals=totals)


class BatchTooLargeError(InvalidInputError):
    """More users than max_users_per_batch without a large enough --allow-large-batch."""
