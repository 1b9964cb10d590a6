"""The HR event contract, and the flow runs each event starts.

Rules that span fields are checked in the later field's validator so that a rejection names the
field HR has to fix (``end``, not the whole body).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
)

from config.leave_calendar import window_problem

EventType = Literal["termination", "leave", "return"]

# Deployments started per event type ("flow name/deployment name").
TERMINATION_DEPLOYMENT = "offboard-user/offboard-user"
LEAVE_DEPLOYMENT = "deactivate-user/deactivate-user"
RETURN_DEPLOYMENT = "reactivate-user/reactivate-user"
# A termination's Identity Center users (by employee id) are offboarded by their own flow; the
# webhook names them ``identity-center:USER_ID`` beside the IAM user names.
IDENTITY_CENTER_DEPLOYMENT = "offboard-identity-center-user/offboard-identity-center-user"
IDENTITY_CENTER_PREFIX = "identity-center:"
DEPLOYMENTS: dict[EventType, str] = {
    "termination": TERMINATION_DEPLOYMENT,
    "leave": LEAVE_DEPLOYMENT,
    "return": RETURN_DEPLOYMENT,
}


def _timestamp_text(value: object) -> object:
    # A bare number would be read as epoch seconds or milliseconds by guesswork: refuse it.
    if isinstance(value, str | datetime):
        return value
    raise ValueError("must be an ISO 8601 timestamp with a zone, e.g. 2026-05-04T17:00:00Z")


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of the supported date range") from None


Timestamp = Annotated[AwareDatetime, BeforeValidator(_timestamp_text), AfterValidator(_in_utc)]
# Printable text: the id ends up in flow run parameters, logs and the audit trail.
EventId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
# Letters, digits and the punctuation IAM allows in tag values; no spaces.
EmployeeId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w.:/=+@-]+$")]
# IAM's own rule for user names.
IamUserName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_+=,.@-]{1,64}$")]


def _optional(schema: dict[str, Any]) -> None:
    """Document an optional field as its type alone: a null is the same as leaving it out."""
    branches = [b for b in schema.pop("anyOf", []) if b.get("type") != "null"]
    schema.pop("default", None)
    if branches:
        schema.update(branches[0])


EXAMPLES: list[JsonValue] = [
    {
        "event_id": "hr-2026-000123",
        "type": "termination",
        "employee_id": "E12345",
        "effective_at": "2026-05-04T17:00:00Z",
    },
    {
        "event_id": "hr-2026-000124",
        "type": "leave",
        "iam_user_name": "jane.doe",
        "effective_at": "2026-06-01T00:00:00Z",
        "start": "2026-06-01T00:00:00Z",
        "end": "2026-09-01T00:00:00Z",
    },
    {
        "event_id": "hr-2026-000125",
        "type": "return",
        "employee_id": "E67890",
        "iam_user_name": "john.roe",
        "effective_at": "2026-09-01T08:00:00+02:00",
    },
]


class HrEvent(BaseModel):
    """One HR event. Give ``employee_id`` (matched against the IAM user tag), ``iam_user_name``,
    or both (then the named user must carry that employee id). ``start`` and ``end`` are required
    for a leave and refused otherwise. Timestamps must carry a zone; they are stored in UTC."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": EXAMPLES,
            "anyOf": [{"required": ["employee_id"]}, {"required": ["iam_user_name"]}],
            "if": {"properties": {"type": {"const": "leave"}}},
            "then": {"required": ["start", "end"]},
        },
    )

    event_id: EventId = Field(description="HR's unique id; a repeat is answered, not re-run.")
    type: EventType
    employee_id: EmployeeId | None = Field(
        default=None,
        description="Matched against the IAM user tag named by the employee_tag_key setting.",
        json_schema_extra=_optional,
    )
    iam_user_name: IamUserName | None = Field(
        default=None, validate_default=True, json_schema_extra=_optional
    )
    effective_at: Timestamp = Field(description="When the run starts (now if already past).")
    start: Timestamp | None = Field(
        default=None,
        validate_default=True,
        description="Leave only: first moment of leave.",
        json_schema_extra=_optional,
    )
    end: Timestamp | None = Field(
        default=None,
        validate_default=True,
        description="Leave only: after `start`.",
        json_schema_extra=_optional,
    )

    @field_validator("iam_user_name")
    @classmethod
    def _someone(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Absent from info.data means employee_id itself was invalid and is reported already.
        if value is None and "employee_id" in info.data and info.data["employee_id"] is None:
            raise ValueError("give employee_id or iam_user_name (or both)")
        return value

    @field_validator("start", "end")
    @classmethod
    def _leave_window(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        kind = info.data.get("type")
        if kind is None:
            return value
        if kind == "leave" and value is None:
            raise ValueError(f"{info.field_name} is required for a leave")
        if kind != "leave" and value is not None:
            raise ValueError(f"{info.field_name} is only for a leave, not a {kind}")
        start = info.data.get("start")
        if info.field_name == "end" and value is not None and start is not None:
            problem = window_problem(start, value)
            if problem is not None:
                raise ValueError(problem)
            if value <= datetime.now(UTC):
                raise ValueError("the leave has already ended: nothing to deactivate")
        return value

    def digest(self) -> str:
        """SHA-256 of the validated event: key order, spacing and zone notation do not count."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


@dataclass(frozen=True)
class RunRequest:
    """One flow run to start; the idempotency key makes a repeat return the same run."""

    deployment: str
    parameters: dict[str, Any] = field(hash=False)
    idempotency_key: str
    scheduled_time: datetime


def plan_runs(event: HrEvent, user_names: tuple[str, ...], now: datetime) -> list[RunRequest]:
    """The runs for ``event``, one per IAM user, scheduled at effective_at (now when past)."""
    when = max(event.effective_at, now)
    runs: list[RunRequest] = []
    for user_name in user_names:
        parameters: dict[str, Any] = {"user_name": user_name}
        deployment = DEPLOYMENTS[event.type]
        if user_name.startswith(IDENTITY_CENTER_PREFIX):
            user_id = user_name.removeprefix(IDENTITY_CENTER_PREFIX)
            parameters = {"value": user_id, "selector": "user_id"}
            deployment = IDENTITY_CENTER_DEPLOYMENT
        if event.type == "termination":
            parameters["reason"] = f"HR termination {event.event_id}"
        elif event.type == "leave":
            assert event.start is not None and event.end is not None  # the model requires them
            parameters["window"] = {
                "start": event.start.isoformat(),
                "end": event.end.isoformat(),
            }
            parameters["disable_keys"] = True
            parameters["reason"] = f"HR leave {event.event_id}"
        else:
            parameters["reason"] = f"HR return {event.event_id}"
        parameters["ticket"] = event.event_id
        runs.append(
            RunRequest(
                deployment=deployment,
                parameters=parameters,
                idempotency_key=f"{event.event_id}:{user_name}",
                scheduled_time=when,
            )
        )
    return runs
