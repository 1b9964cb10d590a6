"""The activity guard: a user active within ``recent_activity_days``, or whose access review did
not complete, is not deleted until someone confirms."""

from __future__ import annotations

from flows.guards.base import Guard, GuardInput, Hold
from flows.report import Outcome


def activity_hold(found: GuardInput) -> Hold | None:
    review = found.review
    if not review.complete:
        return Hold(
            Outcome.held_review_incomplete,
            "ReviewIncomplete",
            f"access review incomplete: {review.incomplete_reason}",
        )
    days = found.settings.recent_activity_days
    if review.active_within(days, found.now):
        last = review.last_activity
        stamp = last.isoformat() if last else "unknown"
        return Hold(
            Outcome.held_recently_active,
            "ActivityGuard",
            f"active within the last {days} days (last activity {stamp})",
        )
    return None


GUARD = Guard(name="activity", check=activity_hold, describe="the activity guard")
