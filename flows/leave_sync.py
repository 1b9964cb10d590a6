"""Scheduled leave: keep each person's time-bounded deny policies in step with the calendar."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import structlog
from prefect import flow
from prefect.runtime import flow_run

from config.leave_calendar import CalendarError, LeaveEntry, load_calendar, merge_windows
from config.logging import ensure_logging
from config.settings import get_settings
from flows.auditing import RunAudit, target_of
from flows.protection import protection_rule
from flows.targets import people
from tasks.deactivation import DeactivationChange, DenyWindow
from tasks.errors import InvalidInputError
from tasks.frozen import Frozen
from tasks.identity import caller_identity
from tasks.leave import sync_user_leave
from tasks.models import USER_NAME_PATTERN
from tasks.user import find_user

log = structlog.get_logger("offboard.flow")
FLOW_NAME = "leave-deactivations"


class SkippedEntry(Frozen):
    entry: str
    problem: str


class LeaveSyncReport(Frozen):
    calendar: str
    run_id: str | None = None
    users: tuple[DeactivationChange, ...] = ()
    skipped: tuple[SkippedEntry, ...] = ()
    finished_at: datetime

    @property
    def writes(self) -> int:
        return sum(len(u.policies_put) + len(u.policies_removed) for u in self.users)


def _resolve(entries: list[LeaveEntry]) -> tuple[dict[str, list[LeaveEntry]], list[SkippedEntry]]:
    """Entries by IAM user name; an unknown person is skipped with a reason."""
    found = people([e.employee_id for e in entries if e.employee_id and not e.user])
    by_user: dict[str, list[LeaveEntry]] = {}
    skipped: list[SkippedEntry] = []
    for entry in entries:
        person = found.get(entry.employee_id or "")
        names = (entry.user,) if entry.user else person.user_names() if person else ()
        if not names:
            skipped.append(
                SkippedEntry(entry=entry.who, problem="no IAM user with that employee id")
            )
        for name in names:
            by_user.setdefault(name, []).append(entry)
    return by_user, skipped


@flow(name=FLOW_NAME, flow_run_name="leave-sync", log_prints=False)
def sync_leave_deactivations(calendar: str | None = None) -> LeaveSyncReport:
    """For each window upcoming or current, ensure its time-bounded deny policy is on the user;
    when a window has ended, remove its policy if it is ours and unmodified."""
    ensure_logging()
    settings = get_settings()
    path = Path(calendar) if calendar else settings.leave_calendar
    try:
        entries, problems = load_calendar(path, settings.leave_calendar_max_bytes)
    except CalendarError as exc:
        raise InvalidInputError(str(exc)) from None
    run_id = str(flow_run.id) if flow_run.id else None
    now = datetime.now(UTC)
    skipped = [SkippedEntry(entry=p.entry, problem=p.problem) for p in problems]
    caller = caller_identity()
    by_user, unknown = _resolve(entries)
    skipped += unknown
    results: list[DeactivationChange] = []
    for user_name, user_entries in sorted(by_user.items()):
        user = find_user(user_name) if USER_NAME_PATTERN.fullmatch(user_name) else None
        if user is None:
            skipped.append(SkippedEntry(entry=user_name, problem=f"no IAM user named {user_name}"))
            continue
        audit = RunAudit(
            flow=FLOW_NAME,
            run_id=run_id,
            actor=caller.arn,
            target=target_of(user_name, user),
            reason="; ".join(sorted({e.reason for e in user_entries if e.reason})) or None,
        )
        rule = protection_rule(user, caller, get_settings())
        if rule:
            skipped.append(SkippedEntry(entry=user_name, problem=f"protected: {rule}"))
            continue
        windows = tuple(
            DenyWindow(start=start, end=end)
            for start, end in merge_windows([(e.start, e.end) for e in user_entries])
        )
        change = sync_user_leave(user_name, windows, now)
        results.append(change)
        if change.changed:
            audit.record(
                "leave",
                "iam:PutUserPolicy/iam:DeleteUserPolicy",
                "done",
                resources=(*change.policies_put, *change.policies_removed),
                message=f"put {len(change.policies_put)}, removed {len(change.policies_removed)}",
            )
    for item in skipped:
        log.warning("leave.skipped", entry=item.entry, problem=item.problem)
    return LeaveSyncReport(
        calendar=str(path),
        run_id=run_id,
        users=tuple(results),
        skipped=tuple(skipped),
        finished_at=datetime.now(UTC),
    )
