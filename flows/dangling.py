"""Which principals a references command looks for: a user named by its name (its ARN and unique
ids as the audit trail recorded them) or by a unique id (``AIDA…``, as AWS shows a deleted user
in a resource policy).

A deleted user's ARN is dangling too, until AWS shows it as the unique id; but once a new user
has the name, the ARN is that user's, so only the old unique ids are taken then."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from audit.records import AuditRecord
from flows.report import FailureKind, StepFailure
from flows.write_ahead import user_history
from tasks.errors import InvalidInputError
from tasks.frozen import Frozen
from tasks.models import UserSummary, validate_user_name

# IAM user unique ids: AIDA and 16 or more upper-case letters and digits (21 characters today).
UNIQUE_ID = re.compile(r"AIDA[A-Z0-9]{16,124}")


def parse_target(value: str) -> tuple[str | None, str | None]:
    """(user name, unique id) of what was typed: exactly one is set. Bad input raises
    InvalidInputError, before any AWS call."""
    if UNIQUE_ID.fullmatch(value):
        return None, value
    try:
        return validate_user_name(value), None
    except InvalidInputError:
        raise InvalidInputError(
            f"invalid user {value!r}: give an IAM user name or a user's unique id (AIDA…)"
        ) from None


class Principals(Frozen):
    """What to look for in resource policies, and who the trail says it was."""

    given: str
    user_name: str | None
    arn: str | None
    unique_ids: tuple[str, ...]
    # The user of that name IAM has now, if any (its ARN is then not dangling).
    live: UserSummary | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (*((self.arn,) if self.arn else ()), *self.unique_ids)


def _records_with_id(path: Path, unique_id: str) -> list[AuditRecord]:
    needle = b'"user_id":' + json.dumps(unique_id).encode("ascii")
    found: list[AuditRecord] = []
    try:
        with path.open("rb") as log_file:
            for line in log_file:
                if needle in line and line.endswith(b"\n"):
                    try:
                        found.append(AuditRecord.model_validate_json(line))
                    except ValueError:
                        continue
    except FileNotFoundError:
        return []
    return [r for r in found if r.target.user_id == unique_id]


def _known(records: list[AuditRecord]) -> tuple[str | None, list[str]]:
    """The last ARN the records name, and every unique id, oldest first."""
    arns = [r.target.user_arn for r in records if r.target.user_arn]
    ids = [r.target.user_id for r in records if r.target.user_id]
    return (arns[-1] if arns else None), list(dict.fromkeys(ids))


def dangling_principals(
    value: str,
    trail: Path,
    find: Callable[[str], UserSummary | None],
    *,
    allow_live: bool = False,
) -> Principals | StepFailure:
    """The principals to look for (or why not): ``find`` is the user lookup (name → live user or
    None). ``allow_live``: a scan may look for a user IAM still has; a clean may not."""
    name, unique_id = parse_target(value)
    if name is not None and not user_history(trail, name) and _records_with_id(trail, name):
        # Not a name the trail knows but a unique id it does (ids other than AWS's AIDA… form,
        # such as a local sandbox's).
        name, unique_id = None, name
    if unique_id is not None:
        records = _records_with_id(trail, unique_id)
        arn, _ = _known(records)
        name = records[-1].target.user_name if records else None
    else:
        assert name is not None
        arn, ids = _known(user_history(trail, name))
    live: UserSummary | None = find(name) if name is not None else None
    if unique_id is not None:
        ids = [unique_id]
        if live is not None and live.user_id == unique_id and not allow_live:
            return _refused(value, f"{unique_id} is IAM user {live.user_name}, who still exists")
    if live is not None:
        if allow_live:
            ids = list(dict.fromkeys([*ids, live.user_id]))
            return Principals(given=value, user_name=name, arn=live.arn, unique_ids=tuple(ids))
        # The name is a new user's now: only the old unique ids dangle.
        old = tuple(i for i in ids if i != live.user_id)
        if not old:
            return _refused(
                value,
                f"IAM user {name} still exists and the audit trail knows no earlier user of "
                "that name: offboard it first",
            )
        return Principals(given=value, user_name=name, arn=None, unique_ids=old, live=live)
    if arn is None and not ids:
        return _refused(
            value,
            f"no IAM user named {name} and the audit trail does not know it: give its unique "
            "id (AIDA…), as resource policies show a deleted user",
            FailureKind.not_found,
        )
    return Principals(given=value, user_name=name, arn=arn, unique_ids=tuple(ids))


def _refused(value: str, message: str, kind: FailureKind = FailureKind.refused) -> StepFailure:
    return StepFailure(
        step="resolve",
        error_code="NotDangling" if kind is FailureKind.refused else "UnknownPrincipal",
        action=None,
        message=message,
        kind=kind,
    )
