"""Finding Identity Center users: by user name or email (GetUserId), by an identity provider's
external id (GetUserId), by HR's employee id (ListUsers with the enterprise extension, since
the employee number is not a unique attribute), and reading one (DescribeUser)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import JsonValue

from config.settings import get_settings
from tasks.aws import count_calls, identitystore_client
from tasks.errors import InvalidInputError, error_code
from tasks.identity_center.models import ExternalId, IdcInstance, IdcUser
from tasks.identity_center.steps import NOT_FOUND

PERMISSIONS = (
    "identitystore:GetUserId",
    "identitystore:ListUsers",
    "identitystore:DescribeUser",
)
ENTERPRISE = "aws:identitystore:enterprise"
# What CreateUser accepts, kept in the snapshot so that a restore can put the user back.
RESTORABLE = (
    "UserName",
    "Name",
    "DisplayName",
    "NickName",
    "ProfileUrl",
    "Emails",
    "Addresses",
    "PhoneNumbers",
    "UserType",
    "Title",
    "PreferredLanguage",
    "Locale",
    "Timezone",
    "Extensions",
)
# "any": an external id when the value has "#", else the user name, else the email.
Selector = Literal["user_name", "email", "external_id", "user_id", "any"]
_PATHS = {"user_name": "userName", "email": "emails.value"}


def parse_external_id(value: str) -> ExternalId:
    """``ISSUER#ID`` (the issuer may itself contain ``:`` and ``/``)."""
    issuer, sep, ext = value.rpartition("#")
    if not sep or not issuer or not ext:
        raise InvalidInputError(f"external id {value!r}: write ISSUER#ID")
    return ExternalId(issuer=issuer, id=ext)


def user_id_by(instance: IdcInstance, selector: Selector, value: str) -> str | None:
    """The id of the user ``value`` names, or None when there is none."""
    if selector == "user_id":
        return value
    if selector == "any":
        if "#" in value:
            return user_id_by(instance, "external_id", value)
        found = user_id_by(instance, "user_name", value)
        return (
            found if found is not None or "@" not in value else user_id_by(instance, "email", value)
        )
    if selector == "external_id":
        ext = parse_external_id(value)
        identifier: dict[str, Any] = {"ExternalId": {"Issuer": ext.issuer, "Id": ext.id}}
    else:
        identifier = {
            "UniqueAttribute": {"AttributePath": _PATHS[selector], "AttributeValue": value}
        }
    try:
        found = identitystore_client().get_user_id(
            IdentityStoreId=instance.identity_store_id, AlternateIdentifier=identifier
        )
    except ClientError as exc:
        if error_code(exc) == NOT_FOUND:
            return None
        raise
    return str(found["UserId"])


def _employee_id(user: dict[str, Any]) -> str | None:
    attribute = get_settings().identity_center_employee_attribute
    value = ((user.get("Extensions") or {}).get(ENTERPRISE) or {}).get(attribute)
    return str(value) if value is not None else None


def user_ids_by_employee(
    instance: IdcInstance, employee_ids: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """Each employee id → the ids of the users whose enterprise attribute carries it."""
    wanted = set(employee_ids)
    found: dict[str, list[str]] = {employee: [] for employee in wanted}
    pages = (
        identitystore_client()
        .get_paginator("list_users")
        .paginate(IdentityStoreId=instance.identity_store_id, Extensions=[ENTERPRISE])
    )
    for user in pages.search("Users[]"):
        employee = _employee_id(user)
        if employee in wanted:
            found[employee].append(user["UserId"])
    return {employee: tuple(ids) for employee, ids in found.items()}


def describe_user(instance: IdcInstance, user_id: str) -> IdcUser | None:
    with count_calls() as calls:
        try:
            found = identitystore_client().describe_user(
                IdentityStoreId=instance.identity_store_id, UserId=user_id, Extensions=[ENTERPRISE]
            )
        except ClientError as exc:
            if error_code(exc) in (NOT_FOUND, "ValidationException"):
                return None
            raise
    attributes: dict[str, JsonValue] = {
        key: found[key] for key in RESTORABLE if found.get(key) not in (None, [], {}, "")
    }
    return IdcUser(
        identity_store_id=instance.identity_store_id,
        user_id=found["UserId"],
        user_name=found["UserName"],
        display_name=found.get("DisplayName"),
        emails=tuple(e["Value"] for e in found.get("Emails") or () if e.get("Value")),
        employee_id=_employee_id(found),
        user_type=found.get("UserType"),
        external_ids=tuple(
            ExternalId(issuer=e["Issuer"], id=e["Id"]) for e in found.get("ExternalIds") or ()
        ),
        attributes=attributes,
        api_calls=calls.count,
    )


def find_user(instance: IdcInstance, selector: Selector, value: str) -> IdcUser | None:
    user_id = user_id_by(instance, selector, value)
    return describe_user(instance, user_id) if user_id is not None else None
