"""Which Identity Center instance the engine acts in: the one configured, else the first."""

from __future__ import annotations

from config.settings import get_settings
from tasks.aws import sso_admin_client
from tasks.errors import OffboardError
from tasks.identity_center.models import IdcInstance

PERMISSIONS = ("sso:ListInstances",)


class NoInstanceError(OffboardError):
    """No Identity Center instance (or not the configured one) in the engine's account."""


def find_instance() -> IdcInstance:
    wanted = get_settings().identity_center_instance_arn
    pages = sso_admin_client().get_paginator("list_instances").paginate()
    for instance in pages.search("Instances[]"):
        if wanted is None or instance["InstanceArn"] == wanted:
            return IdcInstance(
                instance_arn=instance["InstanceArn"],
                identity_store_id=instance["IdentityStoreId"],
            )
    raise NoInstanceError(
        f"no IAM Identity Center instance {wanted}" if wanted else "no IAM Identity Center instance"
    )
