"""Seed step 5: delete the user's service-specific credentials (Git and other service logins)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.items import ServiceCredentialItem
from tasks.runtime import StepSpec, step_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = ("iam:ListServiceSpecificCredentials", "iam:DeleteServiceSpecificCredential")


def list_items(iam: IAMClient, user_name: str) -> tuple[ServiceCredentialItem, ...]:
    # botocore ships no paginator for this operation, so follow Marker by hand.
    found: list[ServiceCredentialItem] = []
    marker: str | None = None
    while True:
        page = (
            iam.list_service_specific_credentials(UserName=user_name, Marker=marker)
            if marker
            else iam.list_service_specific_credentials(UserName=user_name)
        )
        found.extend(
            ServiceCredentialItem(
                service_specific_credential_id=cred["ServiceSpecificCredentialId"],
                service_name=cred["ServiceName"],
                service_user_name=cred.get("ServiceUserName"),
                status=cred["Status"],
                create_date=cred.get("CreateDate"),
            )
            for cred in page["ServiceSpecificCredentials"]
        )
        marker = page.get("Marker")
        if not page.get("IsTruncated") or not marker:
            return tuple(found)


def remove(iam: IAMClient, user_name: str, credential_id: str) -> None:
    iam.delete_service_specific_credential(
        UserName=user_name, ServiceSpecificCredentialId=credential_id
    )


SPEC = StepSpec(
    name="service_specific_credentials",
    label="service credentials",
    title="service-specific credentials",
    seed_commands=("list-service-specific-credentials", "delete-service-specific-credential"),
    permissions=PERMISSIONS,
    action="iam:DeleteServiceSpecificCredential",
    list_items=list_items,
    remove=remove,
)
delete_service_specific_credentials = step_task(SPEC)
