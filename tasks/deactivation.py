"""Deactivation (seed: "Deactivating an IAM user"): a deny-all inline policy, optionally bounded
in time, and the user's active access keys disabled — all reversible exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, model_validator

from config.leave_calendar import window_problem
from tasks import access_keys
from tasks.aws import count_calls, iam_client
from tasks.errors import InvalidInputError
from tasks.frozen import Frozen
from tasks.inline_policies import ensure_policy, remove_policy
from tasks.runtime import iam_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = (
    "iam:PutUserPolicy",
    "iam:GetUserPolicy",
    "iam:DeleteUserPolicy",
    "iam:ListUserPolicies",
    "iam:ListAccessKeys",
    "iam:UpdateAccessKey",
    "iam:ListUserTags",
    "iam:TagUser",
    "iam:UntagUser",
)
# One well-known name for `offboard deactivate` and the offboarding fallback.
DENY_POLICY_NAME = "offboard-deactivated"
# Leave windows from the calendar: one policy per (merged) window, named after it.
LEAVE_POLICY_PREFIX = "offboard-leave-"
# Which keys the engine disabled, kept on the user itself so it survives the engine's machine.
DISABLED_KEYS_TAG = "offboard:disabled-keys"
IAM_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
NAME_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


class DenyWindow(Frozen):
    """When the deny applies; either end may be open. Times must carry a zone."""

    start: AwareDatetime | None = None
    end: AwareDatetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DenyWindow:
        # No ends at all would be an unconditional deny: that is `window=None`, said explicitly.
        if self.start is None and self.end is None:
            raise ValueError("a window needs a start or an end")
        if self.start and self.end:
            problem = window_problem(self.start, self.end)
            if problem:
                raise ValueError(problem)
        return self

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.end is not None

    def ended(self, now: datetime) -> bool:
        return self.end is not None and self.end <= now

    def policy_name(self) -> str:
        start = self.start.astimezone(UTC).strftime(NAME_TIME_FORMAT) if self.start else "open"
        end = self.end.astimezone(UTC).strftime(NAME_TIME_FORMAT) if self.end else "open"
        return f"{LEAVE_POLICY_PREFIX}{start}-{end}"


def iam_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(IAM_TIME_FORMAT)


def parse_time(text: str, what: str) -> datetime:
    """An ISO 8601 timestamp with a zone; a naive one is refused (its meaning is a guess)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"{what} {text!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise InvalidInputError(f"{what} {text!r} has no time zone (add Z or +HH:MM)")
    return moment


def make_window(
    start: str | None, end: str | None, now: datetime | None = None
) -> DenyWindow | None:
    """A window from command-line text; bad input raises InvalidInputError (one line)."""
    if start is None and end is None:
        return None
    for option, text in (("--from", start), ("--until", end)):
        if text is not None and not text.strip():
            raise InvalidInputError(
                f"{option} is empty: give an ISO 8601 timestamp with a zone, or leave it out"
            )
    begin = parse_time(start, "--from") if start else None
    finish = parse_time(end, "--until") if end else None
    if begin and finish:
        problem = window_problem(begin, finish)
        if problem:
            raise InvalidInputError(f"--from {start} --until {end}: {problem}")
    window = DenyWindow(start=begin, end=finish)
    check_not_ended(window, now)
    return window


def check_not_ended(window: DenyWindow | None, now: datetime | None = None) -> None:
    """Refuse a window that has already ended: its deny would never apply, yet look done."""
    moment = now or datetime.now(UTC)
    if window is not None and window.end is not None and window.ended(moment):
        raise InvalidInputError(
            f"the window ended at {iam_time(window.end)}, before now ({iam_time(moment)}): "
            "its deny would never apply"
        )


def deny_document(window: DenyWindow | None = None) -> dict[str, Any]:
    """The seed's deny-all policy; with a window, the seed's time-bounded shape."""
    statement: dict[str, Any] = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    if window and window.bounded:
        condition: dict[str, Any] = {}
        if window.start:
            condition["DateGreaterThan"] = {"aws:CurrentTime": iam_time(window.start)}
        if window.end:
            condition["DateLessThan"] = {"aws:CurrentTime": iam_time(window.end)}
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def window_of_policy_name(name: str) -> DenyWindow | None:
    """The window a leave policy's name encodes, or None when the name is not ours."""
    if not name.startswith(LEAVE_POLICY_PREFIX):
        return None
    try:
        start_text, end_text = name.removeprefix(LEAVE_POLICY_PREFIX).split("-")

        def when(text: str) -> datetime | None:
            if text == "open":
                return None
            return datetime.strptime(text, NAME_TIME_FORMAT).replace(tzinfo=UTC)

        return DenyWindow(start=when(start_text), end=when(end_text))
    except ValueError:
        return None


class KeyChange(Frozen):
    access_key_id: str
    status: str


class DeactivationChange(Frozen):
    """What one deactivation or reactivation task changed (empty when already in place)."""

    step: str
    user_name: str
    policies_put: tuple[str, ...] = ()
    policies_removed: tuple[str, ...] = ()
    keys_changed: tuple[KeyChange, ...] = ()
    api_calls: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.policies_put or self.policies_removed or self.keys_changed)


def _disabled_keys(iam: IAMClient, user_name: str) -> list[str]:
    tags = iam.list_user_tags(UserName=user_name)["Tags"]
    value = next((t["Value"] for t in tags if t["Key"] == DISABLED_KEYS_TAG), "")
    return value.split()


@iam_task(name="put-deny-policy", task_run_name="deny:{user_name}")
def put_deny_policy(user_name: str, window: DenyWindow | None = None) -> DeactivationChange:
    iam = iam_client()
    with count_calls() as calls:
        wrote = ensure_policy(iam, user_name, DENY_POLICY_NAME, deny_document(window))
    return DeactivationChange(
        step="deny_policy",
        user_name=user_name,
        policies_put=(DENY_POLICY_NAME,) if wrote else (),
        api_calls=calls.count,
    )


@iam_task(name="disable-access-keys", task_run_name="disable-keys:{user_name}")
def disable_access_keys(user_name: str) -> DeactivationChange:
    """Set Active keys Inactive, recording them on the user first, so a crash in between can
    only make reactivation re-enable a key that was active anyway."""
    iam = iam_client()
    with count_calls() as calls:
        active = [k.id for k in access_keys.list_items(iam, user_name) if k.status == "Active"]
        if active:
            recorded = _disabled_keys(iam, user_name)
            merged = recorded + [key for key in active if key not in recorded]
            iam.tag_user(
                UserName=user_name, Tags=[{"Key": DISABLED_KEYS_TAG, "Value": " ".join(merged)}]
            )
            for key in active:
                iam.update_access_key(UserName=user_name, AccessKeyId=key, Status="Inactive")
    return DeactivationChange(
        step="disable_keys",
        user_name=user_name,
        keys_changed=tuple(KeyChange(access_key_id=k, status="Inactive") for k in active),
        api_calls=calls.count,
    )


@iam_task(name="remove-deny-policy", task_run_name="undeny:{user_name}")
def remove_deny_policy(user_name: str) -> DeactivationChange:
    iam = iam_client()
    with count_calls() as calls:
        removed = remove_policy(iam, user_name, DENY_POLICY_NAME)
    return DeactivationChange(
        step="deny_policy",
        user_name=user_name,
        policies_removed=(DENY_POLICY_NAME,) if removed else (),
        api_calls=calls.count,
    )


@iam_task(name="reactivate-access-keys", task_run_name="enable-keys:{user_name}")
def reactivate_access_keys(user_name: str) -> DeactivationChange:
    """Re-activate exactly the keys the engine disabled (still present and still Inactive)."""
    iam = iam_client()
    changed: list[KeyChange] = []
    with count_calls() as calls:
        recorded = _disabled_keys(iam, user_name)
        if recorded:
            status = {k.id: k.status for k in access_keys.list_items(iam, user_name)}
            for key in recorded:
                if status.get(key) == "Inactive":
                    iam.update_access_key(UserName=user_name, AccessKeyId=key, Status="Active")
                    changed.append(KeyChange(access_key_id=key, status="Active"))
            # Untag last: a crash before this only repeats the (idempotent) re-activation.
            iam.untag_user(UserName=user_name, TagKeys=[DISABLED_KEYS_TAG])
    return DeactivationChange(
        step="reactivate_keys",
        user_name=user_name,
        keys_changed=tuple(changed),
        api_calls=calls.count,
    )
