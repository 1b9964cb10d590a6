"""The saved plan file (`offboard plan USER --out FILE`): the user's identity and its inventory,
sealed with a SHA-256 digest so that an approver signs off one exact plan.

The file holds what the list calls return (ids, names, ARNs, dates, public key and certificate
bodies), never a secret: IAM's list calls return none.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, ValidationError

from tasks.errors import OffboardError
from tasks.frozen import Frozen
from tasks.models import UserInventory, UserName, UserSummary

SCHEMA_VERSION: Literal[1] = 1
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class PlanFileError(OffboardError):
    """The plan file is missing, unreadable, not a plan, or not the plan that was written."""


class PlannedUser(Frozen):
    """Who the plan is for: the unique id tells this user apart from a later one of that name."""

    account: str
    user_name: UserName
    arn: str
    user_id: str


class SavedPlan(Frozen):
    schema_version: Literal[1] = SCHEMA_VERSION
    # SHA-256 of the file's JSON object without this key (sorted keys, compact separators).
    digest: Sha256Hex
    created_at: AwareDatetime
    # Who took the plan (STS caller ARN).
    created_by: str | None = None
    user: PlannedUser
    inventory: UserInventory


def plan_digest(data: Mapping[str, Any]) -> str:
    body = {key: value for key, value in data.items() if key != "digest"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def new_plan(user: UserSummary, inventory: UserInventory, created_by: str | None) -> SavedPlan:
    draft = SavedPlan(
        digest="0" * 64,
        created_at=datetime.now(UTC),
        created_by=created_by,
        user=PlannedUser(
            account=user.account_id, user_name=user.user_name, arn=user.arn, user_id=user.user_id
        ),
        # Call counts say how the plan was taken, not what it removes.
        inventory=inventory.model_copy(update={"api_calls": 0}),
    )
    return draft.model_copy(update={"digest": plan_digest(draft.model_dump(mode="json"))})


def write_plan(path: Path, plan: SavedPlan) -> None:
    try:
        path.write_text(json.dumps(plan.model_dump(mode="json"), indent=2) + "\n")
    except OSError as exc:
        raise PlanFileError(f"cannot write plan file {path}: {exc.strerror or exc}") from None


def load_plan(path: Path) -> SavedPlan:
    """The plan in `path`, checked against its digest; every problem is one PlanFileError line."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise PlanFileError(f"no plan file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(f"cannot read plan file {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFileError(
            f"plan file {path} is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise PlanFileError(f"plan file {path} is not an offboard plan: not a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise PlanFileError(
            f"plan file {path} has schema_version {version}; "
            f"this offboard reads schema_version {SCHEMA_VERSION}"
        )
    try:
        plan = SavedPlan.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "plan"
        raise PlanFileError(
            f"plan file {path} is not an offboard plan: {where}: {first['msg']}"
        ) from None
    # Over the file's own JSON, so any edit after `offboard plan` wrote it shows.
    if plan_digest(data) != plan.digest:
        raise PlanFileError(
            f"plan file {path} does not match its digest: it was changed after it was written"
        )
    return plan
