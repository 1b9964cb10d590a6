"""Seed step 6: deactivate every MFA device; delete the virtual ones.

Hardware and FIDO devices belong to the organisation's stock and can only be deactivated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from tasks.errors import error_code
from tasks.items import MFADeviceItem, mfa_kind
from tasks.runtime import StepSpec, step_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = ("iam:ListMFADevices", "iam:DeactivateMFADevice", "iam:DeleteVirtualMFADevice")


def is_virtual(serial: str) -> bool:
    return mfa_kind(serial) == "virtual"


def list_items(iam: IAMClient, user_name: str) -> tuple[MFADeviceItem, ...]:
    pages = iam.get_paginator("list_mfa_devices").paginate(UserName=user_name)
    return tuple(
        MFADeviceItem(serial_number=device["SerialNumber"], enable_date=device.get("EnableDate"))
        for device in pages.search("MFADevices[]")
    )


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
    label="MFA devices",
    title="MFA devices",
    seed_commands=("list-mfa-devices", "deactivate-mfa-device", "delete-virtual-mfa-device"),
    permissions=PERMISSIONS,
    action="iam:DeactivateMFADevice,iam:DeleteVirtualMFADevice",
    list_items=list_items,
    remove=remove,
)
delete_mfa_devices = step_task(SPEC)
