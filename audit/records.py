"""The audit trail's record format: one canonical JSON object per line, hash-chained.

A line is the record serialized with sorted keys, compact separators and ASCII escapes, so the
same record always has the same bytes. ``prev_hash`` is the SHA-256 of the previous line's bytes;
``hash`` is the SHA-256 of the record without its ``hash`` key, so the last line is covered too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first record in a file."""

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

Outcome = Literal[
    "done",
    "already_absent",
    "failed",
    "skipped",
    "held",
    # Written before a step's mutating calls: what is about to be removed (write-ahead).
    "intent",
    # Absent on a rerun or retry, and this run's (or an earlier attempt's) intent or unanswered
    # call says it was about to remove it: removed by that attempt, not by someone else.
    "done_by_earlier_attempt",
]


def canonical_json(data: Mapping[str, Any]) -> str:
    """The one serialization used for lines and hashes."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_hash(data: Mapping[str, Any]) -> str:
    """SHA-256 of a record's JSON object without its ``hash`` key."""
    body = {key: value for key, value in data.items() if key != "hash"}
    return sha256_hex(canonical_json(body).encode("ascii"))


class AuditTarget(BaseModel):
    """The IAM user a record is about."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account: str | None
    user_name: str
    user_arn: str | None
    # The unique id tells a deleted user apart from a later user of the same name.
    user_id: str | None


class AuditEvent(BaseModel):
    """One state change of an offboarding run, as the engine reports it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str | None
    flow: str
    step: str
    actor: str | None
    target: AuditTarget
    action: str
    # Identifiers of the affected resources (key ids, policy ARNs, ...), never secret material.
    resources: tuple[str, ...] = ()
    outcome: Outcome
    error_code: str | None = None
    message: str | None = None
    reason: str | None = None
    ticket: str | None = None


class AuditRecord(AuditEvent):
    """An event as written to the trail: numbered, timestamped and chained."""

    seq: int = Field(ge=1)
    time: AwareDatetime
    prev_hash: Sha256Hex
    hash: Sha256Hex

    @field_validator("time")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @classmethod
    def seal(cls, event: AuditEvent, *, seq: int, time: datetime, prev_hash: str) -> AuditRecord:
        """The record for ``event`` at position ``seq``, with its hash computed."""
        fields = {name: getattr(event, name) for name in AuditEvent.model_fields}
        draft = cls(**fields, seq=seq, time=time, prev_hash=prev_hash, hash=GENESIS_HASH)
        return draft.model_copy(update={"hash": draft.compute_hash()})

    def compute_hash(self) -> str:
        return content_hash(self.model_dump(mode="json"))

    def to_line(self) -> bytes:
        """The record's line in the file, without the newline."""
        return canonical_json(self.model_dump(mode="json")).encode("ascii")


ParsedModel = TypeVar("ParsedModel", bound=BaseModel)


def parse_json_line(
    line: bytes, model: type[ParsedModel], what: str
) -> tuple[dict[str, Any], ParsedModel] | str:
    """A JSON object on one line and the ``model`` it holds, or why the line is not one
    (``what`` names the model in the message)."""
    try:
        data = json.loads(line)
    except ValueError:
        return "not valid JSON"
    if not isinstance(data, dict):
        return "not a JSON object"
    try:
        return data, model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or what
        return f"not {what}: {where}: {error['msg']}".replace("\n", " ")
