"""Finding IAM users by a tag: the employee id tag, or any KEY=VALUE a batch selects by."""

from __future__ import annotations

from functools import partial

from tasks.aws import iam_client
from tasks.errors import if_exists
from tasks.runtime import iam_task

PERMISSIONS = ("iam:ListUsers", "iam:ListUserTags")


def same_tag_key(a: str, b: str) -> bool:
    """IAM keeps one tag per key on a user whatever its case (``Department`` and ``department``
    cannot both be there), so keys match regardless of case; values match exactly."""
    return a.casefold() == b.casefold()


@iam_task(name="users-by-tag", task_run_name="tagged:{key}")
def users_by_tag(key: str, values: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Tag value → names of the users carrying tag ``key`` with that value, for each of
    ``values`` found (ListUsers has no tags in AWS, so one ListUserTags per user)."""
    iam = iam_client()
    wanted = set(values)
    found: dict[str, list[str]] = {}
    for user in iam.get_paginator("list_users").paginate().search("Users[]"):
        name: str = user["UserName"]
        # None: deleted since it was listed.
        listed = if_exists(partial(iam.list_user_tags, UserName=name))
        for tag in listed["Tags"] if listed else ():
            if same_tag_key(tag["Key"], key) and tag["Value"] in wanted:
                found.setdefault(tag["Value"], []).append(name)
    return {value: tuple(names) for value, names in found.items()}
