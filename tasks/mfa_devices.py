"""Seed step 6: deactivate every MFA device; delete the virtual ones.

Hardware and FIDO devices belong to the organisation's stock and can only be deactivated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from tasks.errors import error_code
from tasks.runtime import StepSpec, step_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = ("iam:ListMFADevices", "iam:DeactivateMFADevice", "iam:DeleteVirtualMFADevice")


def is_virtual(serial: str) -> bool:
    """Virtual devices have ARNs of the form arn:aws:iam::ACCOUNT:mfa/NAME."""
    return serial.startswith("arn:") and ":mfa/" in serial


def list_ids(iam: IAMClient, user_name: str) -> tuple[str, ...]:
    pages = iam.get_paginator("list_mfa_devices").paginate(UserName=user_name)
    return tuple(pages.search("MFADevices[].SerialNumber"))


def remove(iam: IAMClient, user_name: str, serial: str) -> None:
    try:
        iam.deactivate_mfa_device(UserName=user_name, SerialNumber=serial)
    except ClientError as exc:
        # A device deactivated by an earlier attempt may still await deletion.
        if error_code(exc) != "NoSuchEntity" or not is_virtual(serial):
            raise
        iam.delete_virtual_mfa_device(SerialNumber=serial)
        return
    if is_virtual(serial):
        iam.delete_virtual_mfa_device(SerialNumber=serial)


SPEC = StepSpec(
    name="mfa_devices",
    seed_commands=("list-mfa-devices", "deactivate-mfa-device", "delete-virtual-mfa-device"),
    permissions=PERMISSIONS,
    list_ids=list_ids,
    remove=remove,
)
delete_mfa_devices = step_task(SPEC)
