"""The seed's listing tasks: users in the account or a group, and the groups a user is in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from tasks.aws import iam_client
from tasks.errors import InvalidInputError, UserNotFoundError, error_code
from tasks.frozen import Frozen

PERMISSIONS = ("iam:ListUsers", "iam:GetGroup", "iam:ListGroupsForUser")


class UserListing(Frozen):
    user_name: str
    user_id: str
    arn: str
    path: str
    create_date: datetime


class GroupListing(Frozen):
    group_name: str
    group_id: str
    arn: str
    path: str


def _user(item: Any) -> UserListing:
    return UserListing(
        user_name=item["UserName"],
        user_id=item["UserId"],
        arn=item["Arn"],
        path=item["Path"],
        create_date=item["CreateDate"],
    )


def list_users(group: str | None = None, path_prefix: str | None = None) -> tuple[UserListing, ...]:
    """All users, or a group's members; optionally only those under a path prefix."""
    iam = iam_client()
    if group is None:
        pages = iam.get_paginator("list_users").paginate(PathPrefix=path_prefix or "/")
        return tuple(_user(item) for item in pages.search("Users[]"))
    members = iam.get_paginator("get_group").paginate(GroupName=group).search("Users[]")
    try:
        return tuple(_user(item) for item in members if item["Path"].startswith(path_prefix or "/"))
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            raise InvalidInputError(f"no IAM group named {group}") from None
        raise


def list_groups_for_user(user_name: str) -> tuple[GroupListing, ...]:
    pages = iam_client().get_paginator("list_groups_for_user").paginate(UserName=user_name)
    try:
        return tuple(
            GroupListing(
                group_name=item["GroupName"],
                group_id=item["GroupId"],
                arn=item["Arn"],
                path=item["Path"],
            )
            for item in pages.search("Groups[]")
        )
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            raise UserNotFoundError(user_name) from None
        raise
