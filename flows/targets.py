"""Who a run is about: user names, a tag, a group or an employee id, resolved to the IAM users
they name in each account. The batch, the HR webhook and leave sync all resolve here.

One person's targets are a ``Person``; IAM users are one field of it, so that another kind of
identity the person has (an Identity Center user) joins as another field without changing how
callers ask.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import structlog

from config.settings import get_settings
from flows.batch_models import AccountFailure, BatchSelection
from flows.task_calls import call
from tasks.accounts import in_account, target_accounts
from tasks.frozen import Frozen
from tasks.listing import list_users
from tasks.runtime import iam_task
from tasks.user import find_user
from tasks.user_lookup import same_tag_key, users_by_tag

log = structlog.get_logger("offboard.flow")

group_members = iam_task(name="group-members", task_run_name="members:{group}")(list_users)


class IamTarget(Frozen):
    user_name: str
    # None: the account of the engine's own credentials.
    account_id: str | None = None


class Targets(Frozen):
    """IAM users in selection order, each once, and the accounts that could not be searched."""

    iam_users: tuple[IamTarget, ...] = ()
    account_failures: tuple[AccountFailure, ...] = ()

    def by_account(self) -> dict[str | None, list[str]]:
        found: dict[str | None, list[str]] = {}
        for target in self.iam_users:
            found.setdefault(target.account_id, []).append(target.user_name)
        return found

    def user_names(self) -> tuple[str, ...]:
        return tuple(target.user_name for target in self.iam_users)


class Person(Targets):
    """One person's targets (None: named by user name only)."""

    employee_id: str | None = None


class NoTargetError(LookupError):
    """Nobody matches; the message names the employee id or user name asked for."""


def _unique(targets: Iterable[IamTarget]) -> tuple[IamTarget, ...]:
    # IAM user names are unique regardless of case: "Alice" and "alice" are one user.
    seen: set[tuple[str | None, str]] = set()
    kept: list[IamTarget] = []
    for target in targets:
        key = (target.account_id, target.user_name.casefold())
        if key not in seen:
            seen.add(key)
            kept.append(target)
    return tuple(kept)


def people(
    employee_ids: Sequence[str],
    *,
    every_account: bool = False,
    run_id: str | None = None,
) -> dict[str, Person]:
    """Each employee id → that person's IAM users (the employee_tag_key tag), found in the
    engine's own account, or with ``every_account`` in every target account.

    In one account a failed search raises; across accounts it is recorded on each person and
    the other accounts are searched still.
    """
    wanted = tuple(sorted(set(employee_ids)))
    key = get_settings().employee_tag_key
    accounts: list[str | None] = [None]
    if every_account:
        accounts = [account.account_id for account in call(target_accounts)] or [None]
    found: dict[str, list[IamTarget]] = {employee: [] for employee in wanted}
    failures: list[AccountFailure] = []
    for account_id in accounts if wanted else ():
        try:
            with in_account(account_id, run_id):
                by_value = call(users_by_tag, key, wanted)
        except Exception as exc:
            if not every_account:
                raise
            failure = AccountFailure.of(account_id, exc)
            log.error("targets.account_failed", account=account_id, error=failure.error_code)
            failures.append(failure)
            continue
        for employee, names in by_value.items():
            found[employee].extend(IamTarget(user_name=n, account_id=account_id) for n in names)
    return {
        employee: Person(
            employee_id=employee,
            iam_users=_unique(found[employee]),
            account_failures=tuple(failures),
        )
        for employee in wanted
    }


def select(selection: BatchSelection, run_id: str | None = None) -> Targets:
    """The users a batch selection names: listed ones as given, a tag's or a group's in the
    engine's own account, an employee's in every target account."""
    if selection.users:
        return Targets(
            iam_users=_unique(
                IamTarget(user_name=t.user_name, account_id=t.account_id) for t in selection.users
            )
        )
    if selection.tag is not None:
        key, _, value = selection.tag.partition("=")
        names = call(users_by_tag, key, (value,)).get(value, ())
        return Targets(iam_users=_unique(IamTarget(user_name=name) for name in names))
    if selection.group is not None:
        members = call(group_members, group=selection.group)
        return Targets(iam_users=_unique(IamTarget(user_name=m.user_name) for m in members))
    assert selection.employee_id is not None  # the selection names exactly one way
    return people((selection.employee_id,), every_account=True, run_id=run_id)[
        selection.employee_id
    ]


def named_person(user_name: str | None, employee_id: str | None) -> Person:
    """The user named (when an employee id is given too, only if it carries that id), else the
    employee's users, in the engine's own account. NoTargetError when there is none."""
    key = get_settings().employee_tag_key
    if user_name is not None:
        user = call(find_user, user_name)
        if user is None:
            raise NoTargetError(f"no IAM user named {user_name}")
        if employee_id is not None and not any(
            same_tag_key(tag.key, key) and tag.value == employee_id for tag in user.tags
        ):
            raise NoTargetError(f"no IAM user named {user_name} with tag {key}={employee_id}")
        return Person(employee_id=employee_id, iam_users=(IamTarget(user_name=user.user_name),))
    if employee_id is None:
        raise ValueError("name a user or an employee id")
    person = people((employee_id,))[employee_id]
    if not person.iam_users:
        raise NoTargetError(f"no IAM user carries the tag {key}={employee_id}")
    return person
