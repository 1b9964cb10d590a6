"""Seed step 3: delete the user's signing certificates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.items import SigningCertificateItem
from tasks.runtime import StepSpec, step_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = ("iam:ListSigningCertificates", "iam:DeleteSigningCertificate")


def list_items(iam: IAMClient, user_name: str) -> tuple[SigningCertificateItem, ...]:
    pages = iam.get_paginator("list_signing_certificates").paginate(UserName=user_name)
    return tuple(
        SigningCertificateItem(
            certificate_id=cert["CertificateId"],
            status=cert["Status"],
            upload_date=cert.get("UploadDate"),
            body=cert["CertificateBody"],
        )
        for cert in pages.search("Certificates[]")
    )


def remove(iam: IAMClient, user_name: str, certificate_id: str) -> None:
    iam.delete_signing_certificate(UserName=user_name, CertificateId=certificate_id)


SPEC = StepSpec(
    name="signing_certificates",
    label="signing certificates",
    title="signing certificates",
    seed_commands=("list-signing-certificates", "delete-signing-certificate"),
    permissions=PERMISSIONS,
    action="iam:DeleteSigningCertificate",
    list_items=list_items,
    remove=remove,
)
delete_signing_certificates = step_task(SPEC)
