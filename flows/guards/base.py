"""What a guard reads and answers; the guards themselves are the modules beside this one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from config.settings import Settings
from flows.report import Outcome
from tasks.models import UserInventory, UserSummary
from tasks.review import AccessReview


@dataclass(frozen=True)
class GuardInput:
    """What the run has found when the guards are asked; scans that serve a guard add to
    ``extra`` (by name) rather than to this signature."""

    user: UserSummary
    inventory: UserInventory
    review: AccessReview
    settings: Settings
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hold:
    """A guard's answer: the outcome a dry run reports (its category gives the exit code), the
    error code the failure carries, and why, in words."""

    outcome: Outcome
    error_code: str
    message: str


@dataclass(frozen=True)
class Guard:
    # The name an operator overrides it by (``--override NAME``).
    name: str
    check: Callable[[GuardInput], Hold | None]
    # What the override is called in help and messages.
    describe: str
    # A real run the guard holds deactivates the user (deny-all, keys disabled) until someone
    # decides; False: it changes nothing at all.
    deactivates: bool = True
    # The reference-scan services (tasks.references) the guard reads from ``extra``: a run
    # scans only these, a batch once per account for all of its users.
    scans: tuple[str, ...] = ()
