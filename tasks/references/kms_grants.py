"""KMS grants whose grantee is a principal, in one region, and revoking them.

A grant is read as one statement: its id, Allow, the operations it permits, its grantee.
Grants are revoked (kms:RevokeGrant, a key administrator's call), not retired: RetireGrant is
for the grant's retiring principal, which the engine is not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from tasks.errors import error_code
from tasks.references.clients import region_of, regional_client
from tasks.references.found import Read, Reference, merged, read_or_refused
from tasks.references.parallel import each
from tasks.references.rewrite import Rewrite

PERMISSIONS = ("kms:ListKeys", "kms:ListGrants", "kms:RevokeGrant")
SERVICE = "kms-grants"


def _grant_record(grant: dict[str, Any]) -> dict[str, Any]:
    """A grant as JSON (for the audit trail and snapshot): dates as ISO 8601."""
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in grant.items()
    }


def _grants(client: Any, key_arn: str) -> list[dict[str, Any]]:
    grants: list[dict[str, Any]] = []
    for page in client.get_paginator("list_grants").paginate(KeyId=key_arn):
        grants += [_grant_record(grant) for grant in page.get("Grants", [])]
    return grants


def _reference(region: str, key_arn: str, grant: dict[str, Any]) -> Reference:
    return Reference(
        service=SERVICE,
        region=region,
        resource_arn=key_arn,
        statement=str(grant["GrantId"]),
        effect="Allow",
        actions=[f"kms:{operation}" for operation in grant.get("Operations", [])],
        principal=str(grant["GranteePrincipal"]),
    )


def grant_references(region: str) -> Read:
    client = regional_client("kms", region)
    keys = [key for page in client.get_paginator("list_keys").paginate() for key in page["Keys"]]

    def read(arn: str) -> list[Reference]:
        grants = _grants(client, arn)
        return [_reference(region, arn, g) for g in grants if g.get("GranteePrincipal")]

    return merged(
        each(
            keys,
            lambda key: read_or_refused(
                SERVICE, region, key["KeyArn"], lambda: read(key["KeyArn"])
            ),
        )
    )


def clean_grants(key_arn: str, names: set[str]) -> Rewrite | None:
    """Revoke every grant on the key whose grantee is among ``names``; the key's grants before
    and after, None when none was theirs."""
    client = regional_client("kms", region_of(key_arn))
    grants = _grants(client, key_arn)
    theirs = [grant for grant in grants if grant.get("GranteePrincipal") in names]
    if not theirs:
        return None
    for grant in theirs:
        try:
            client.revoke_grant(KeyId=key_arn, GrantId=grant["GrantId"])
        except ClientError as error:
            # Revoked or retired since it was listed: what was asked for.
            if error_code(error) != "NotFoundException":
                raise
    kept = [grant for grant in grants if grant not in theirs]
    return Rewrite(old={"Grants": grants}, new={"Grants": kept})
