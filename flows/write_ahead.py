"""Write-ahead records: an intent before a step's mutating calls, its outcome after, and the
reconciliation a rerun does for an intent that never got an outcome (the run was killed, or the
trail could not be written).

An intent that has no outcome and whose items are gone from IAM now was carried out by that
attempt; the rerun records it as ``done_by_earlier_attempt``, never as ``already_absent`` (which
says someone else removed it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import structlog

from audit.records import AuditRecord, Outcome
from audit.trail import AuditTrailError
from flows.auditing import RunAudit
from flows.report import FailureKind, StepFailure
from tasks.models import StepResult, UserInventory, UserSummary
from tasks.snapshot import SnapshotRef
from tasks.snapshot_proof import recorded_snapshot

log = structlog.get_logger("offboard.flow")

# What appending to the trail raises: the disk is full or read-only, or the log is torn.
TRAIL_ERRORS = (OSError, AuditTrailError)
TRAIL_UNWRITABLE = "AuditTrailUnwritable"
# Outcomes that answer an intent. "failed" does not: items before the failing one may be gone.
ANSWERS: frozenset[Outcome] = frozenset(
    {"done", "already_absent", "skipped", "done_by_earlier_attempt"}
)
DELETE_USER = ("user", "iam:DeleteUser")


def record_intent(audit: RunAudit, step: str, action: str, items: tuple[str, ...]) -> None:
    """On disk before the step's first mutating call (the trail fsyncs every append)."""
    audit.record(step, action, "intent", resources=items, message=f"about to remove {len(items)}")


def trail_failure(step: str, path: Path, exc: BaseException) -> StepFailure:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return StepFailure(
        step=step,
        error_code=TRAIL_UNWRITABLE,
        action="audit.append",
        message=f"cannot write the audit trail {path}: {reason}; "
        "no further deletion without a record",
        kind=FailureKind.audit_unwritable,
    )


@dataclass
class BestEffortAudit(RunAudit):
    """For the protective fallback: a record that cannot be written must not stop it."""

    def record(
        self,
        step: str,
        action: str,
        outcome: Outcome,
        resources: tuple[str, ...] = (),
        error_code: str | None = None,
        message: str | None = None,
    ) -> None:
        try:
            super().record(step, action, outcome, resources, error_code, message)
        except TRAIL_ERRORS as exc:
            log.error("audit.unwritable", step=step, action=action, outcome=outcome, error=str(exc))


def best_effort(audit: RunAudit) -> BestEffortAudit:
    return BestEffortAudit(**{f.name: getattr(audit, f.name) for f in fields(audit)})


def half_offboarded(failure: StepFailure, why: str, remaining: UserInventory | None) -> StepFailure:
    """The one line for a user neither deleted nor deactivated: what failed and what is left."""
    left = remaining.attachments() if remaining else {}
    listed = "; ".join(f"{kind}: {', '.join(ids)}" for kind, ids in left.items())
    return failure.model_copy(
        update={
            "message": f"{remaining.user_name if remaining else 'the user'} is half-offboarded: "
            f"{failure.message}; deactivation failed too ({why}); still there: the user"
            + (f" and {listed}" if listed else "")
        }
    )


def user_history(path: Path, user_name: str) -> list[AuditRecord]:
    """The trail's records about ``user_name``, in file order. A cheap byte match picks the
    lines to parse; lines that are not records are left to ``offboard audit verify``."""
    needle = b'"user_name":' + json.dumps(user_name, ensure_ascii=True).encode("ascii") + b"}"
    found: list[AuditRecord] = []
    try:
        with path.open("rb") as log_file:
            for line in log_file:
                if needle not in line or not line.endswith(b"\n"):
                    continue
                try:
                    record = AuditRecord.model_validate_json(line)
                except ValueError:
                    continue
                if record.target.user_name == user_name:
                    found.append(record)
    except FileNotFoundError:
        return []
    return found


def pending_intents(history: list[AuditRecord], user_id: str | None) -> list[AuditRecord]:
    """Intents for this user (by unique id) that no later record of the same step answers."""
    open_intents: dict[tuple[str, str], list[AuditRecord]] = {}
    for record in history:
        if user_id is None or record.target.user_id != user_id:
            continue
        key = (record.step, record.action)
        if record.outcome == "intent":
            open_intents.setdefault(key, []).append(record)
        elif record.outcome in ANSWERS:
            open_intents.pop(key, None)
    return [intent for intents in open_intents.values() for intent in intents]


def reconcile_pending(audit: RunAudit, inventory: UserInventory) -> tuple[StepResult, ...]:
    """Before this run deletes anything: an earlier attempt's unanswered intent whose items are
    gone now is recorded as done by that attempt. Items still there are left to the steps."""
    pending = pending_intents(
        user_history(audit.trail.path, inventory.user_name), audit.target.user_id
    )
    by_step: dict[tuple[str, str], list[AuditRecord]] = {}
    for intent in pending:
        by_step.setdefault((intent.step, intent.action), []).append(intent)
    results: list[StepResult] = []
    for (step, action), intents in by_step.items():
        present = set(inventory.items(step))
        intended = dict.fromkeys(item for intent in intents for item in intent.resources)
        gone = tuple(item for item in intended if item not in present)
        if not gone:
            continue
        first = intents[0]
        audit.record(
            step,
            action,
            "done_by_earlier_attempt",
            resources=gone,
            message=f"intended by run {first.run_id} (audit seq {first.seq}) without an "
            "outcome; absent from IAM now",
        )
        results.append(StepResult(step=step, user_name=inventory.user_name, done_earlier=gone))
    return tuple(results)


@dataclass(frozen=True)
class EarlierDeletion:
    """This user was deleted by an offboarding attempt the trail shows (intent for DeleteUser)."""

    intent: AuditRecord
    # The attempt never recorded the outcome (it was killed right after DeleteUser).
    unanswered: bool
    snapshot: SnapshotRef | None = None
    user: UserSummary | None = None
    # Set when the trail shows the intent but the snapshot does not back it up.
    problem: str | None = None


def earlier_deletion(
    audit: RunAudit, user_name: str, account: str, run_id: str | None
) -> EarlierDeletion | None:
    """For a user IAM no longer has: the offboarding attempt that deleted it, when the trail
    shows one whose outcome was never recorded, or this same run's (a rerun of it)."""
    history = user_history(audit.trail.path, user_name)
    intents = [
        (index, record)
        for index, record in enumerate(history)
        if (record.step, record.action) == DELETE_USER
        and record.outcome == "intent"
        and record.target.account == account
        and record.target.user_id
    ]
    if not intents:
        return None
    index, intent = intents[-1]
    later = history[index + 1 :]
    if any(r.target.user_id not in (None, intent.target.user_id) for r in later):
        return None  # a newer user of that name existed after this intent
    answers = [
        r
        for r in later
        if r.target.user_id == intent.target.user_id
        and (r.step, r.action) == DELETE_USER
        and r.outcome in ANSWERS
    ]
    unanswered = not answers
    same_run = run_id is not None and intent.run_id == run_id
    if not unanswered and not (same_run and answers[0].outcome != "already_absent"):
        return None
    proof = _snapshot_before(history[:index], intent)
    if isinstance(proof, str):
        return EarlierDeletion(intent=intent, unanswered=unanswered, problem=proof)
    ref, user = proof
    return EarlierDeletion(intent=intent, unanswered=unanswered, snapshot=ref, user=user)


def _snapshot_before(
    history: list[AuditRecord], intent: AuditRecord
) -> tuple[SnapshotRef, UserSummary] | str:
    """The snapshot the intent's run recorded before deleting, read back and checked."""
    records = [
        r
        for r in history
        if r.step == "snapshot"
        and r.outcome == "done"
        and r.run_id == intent.run_id
        and r.target.user_id == intent.target.user_id
        and r.resources
    ]
    if not records:
        return "the audit trail has no snapshot record of that run"
    record = records[-1]
    sha256 = (record.message or "").removeprefix("sha256 ")
    found = recorded_snapshot(record.resources[0], sha256)
    if isinstance(found, str):
        return found
    ref, snapshot = found
    if snapshot.user.user_id != intent.target.user_id:
        return f"its snapshot {ref.location} is of another user"
    return ref, snapshot.user


def record_earlier_deletion(audit: RunAudit, earlier: EarlierDeletion) -> StepResult:
    """The rerun's record: the user is gone because that attempt deleted it."""
    user_name = earlier.intent.target.user_name
    if earlier.unanswered:
        audit.record(
            "user",
            "iam:DeleteUser",
            "done_by_earlier_attempt",
            resources=(user_name,),
            message=f"intended by run {earlier.intent.run_id} (audit seq {earlier.intent.seq}) "
            f"without an outcome; no such user in IAM now; snapshot "
            f"{earlier.snapshot.location if earlier.snapshot else '-'}",
        )
    return StepResult(step="user", user_name=user_name, done_earlier=(user_name,))
