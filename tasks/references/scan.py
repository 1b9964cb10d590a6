"""One scan of an account's resource policies: every statement that names an AWS principal, in
the regions and services asked for. A batch scans once per account and looks each user up in
the result (``ReferenceScan.naming``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from config.settings import (
    REFERENCE_SERVICES,
    check_reference_services,
    check_regions,
    get_settings,
)
from tasks.aws import current_account_id, current_factory
from tasks.errors import InvalidInputError
from tasks.references.calls import counting
from tasks.references.clients import regional_client
from tasks.references.ecr_repositories import repository_references
from tasks.references.found import NotScanned, Read, Reference, not_scanned, refused
from tasks.references.iam_roles import role_references
from tasks.references.kms_grants import grant_references
from tasks.references.kms_keys import key_references
from tasks.references.lambda_functions import function_references
from tasks.references.parallel import each
from tasks.references.s3_buckets import bucket_references
from tasks.references.secrets import secret_references
from tasks.references.sns_topics import topic_references
from tasks.references.sqs_queues import queue_references
from tasks.runtime import iam_task

PERMISSIONS = ("ec2:DescribeRegions",)
GLOBAL = "global"

# Services read once per account (IAM is global; S3 lists every bucket in one call and reads
# each in its own region), and services read in each region.
GLOBAL_READERS: dict[str, Callable[[set[str]], Read]] = {
    "iam": lambda _regions: role_references(),
    "s3": bucket_references,
}
REGIONAL_READERS: dict[str, Callable[[str], Read]] = {
    "kms": key_references,
    "kms-grants": grant_references,
    "sqs": queue_references,
    "sns": topic_references,
    "secretsmanager": secret_references,
    "lambda": function_references,
    "ecr": repository_references,
}


class ReferenceScan(BaseModel):
    """What one scan found; JSON-able, so it goes into the snapshot and the plan."""

    model_config = ConfigDict(frozen=True)

    account_id: str | None
    regions: list[str]
    services: list[str]
    found: list[Reference]
    # AccessDenied on a resource (or a whole service in a region) is a finding, not a failure.
    not_scanned: list[NotScanned]
    # "service:Operation" -> calls, over the whole scan; and the same per region ("global" for
    # IAM, S3's listing and the region lookup).
    calls: dict[str, int]
    calls_by_region: dict[str, dict[str, int]] = {}

    def naming(self, *principals: str) -> list[Reference]:
        """The statements naming any of ``principals`` (a user's ARN and/or unique id)."""
        wanted = set(principals)
        return [reference for reference in self.found if reference.principal in wanted]


def chosen_services(services: tuple[str, ...] | None) -> list[str]:
    if services is None:
        services = get_settings().reference_services or REFERENCE_SERVICES
    try:
        check_reference_services(tuple(services))
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    return [name for name in REFERENCE_SERVICES if name in services]


def _enabled_regions() -> list[str]:
    factory = current_factory()
    ec2 = regional_client("ec2", factory.session.region_name or "us-east-1")
    # Without AllRegions, EC2 lists only the regions enabled for the account.
    answer = ec2.describe_regions()
    return sorted(region["RegionName"] for region in answer.get("Regions", []))


def chosen_regions(regions: tuple[str, ...] | None) -> list[str]:
    if regions is None:
        regions = get_settings().reference_regions or None
    if regions is None:
        return _enabled_regions()
    try:
        check_regions(tuple(regions))
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    return sorted(set(regions))


def _account_id() -> str | None:
    scoped = current_account_id()
    if scoped is not None:
        return scoped
    identity: dict[str, Any] = current_factory().client("sts").get_caller_identity()
    account = identity.get("Account")
    return str(account) if account else None


def _read(service: str, region: str, regions: set[str]) -> tuple[Read, Counter[str]]:
    with counting() as calls:
        try:
            if region == GLOBAL:
                result = GLOBAL_READERS[service](regions)
            else:
                result = REGIONAL_READERS[service](region)
        except ClientError as error:
            # The listing itself was refused: the whole service in that region is a gap.
            if not refused(error):
                raise
            result = ([], [not_scanned(service, "*", region, error)])
    return result, calls


@iam_task(name="scan-references")
def scan_references(
    regions: tuple[str, ...] | None = None,
    services: tuple[str, ...] | None = None,
    account_id: str | None = None,
) -> ReferenceScan:
    """Every resource policy statement naming an AWS principal, in the current account scope.

    regions None: the ``reference_regions`` setting, else every enabled region; services None:
    the ``reference_services`` setting, else all of them; account_id: the scope's account when
    the caller knows it already (None: asked).
    """
    names = chosen_services(services)
    with counting() as lookup:
        where = chosen_regions(regions)
    jobs = [(name, GLOBAL) for name in names if name in GLOBAL_READERS]
    jobs += [(name, region) for region in where for name in names if name in REGIONAL_READERS]
    results = each(jobs, lambda job: _read(job[0], job[1], set(where)))
    found: list[Reference] = []
    not_scanned: list[NotScanned] = []
    total: Counter[str] = Counter(lookup)
    by_region: dict[str, Counter[str]] = {GLOBAL: Counter(lookup)} if lookup else {}
    for (_, region), ((references, gaps), calls) in zip(jobs, results, strict=True):
        found += references
        not_scanned += gaps
        total.update(calls)
        by_region.setdefault(region, Counter()).update(calls)
    return ReferenceScan(
        account_id=account_id or _account_id(),
        regions=where,
        services=names,
        found=found,
        not_scanned=not_scanned,
        calls=dict(sorted(total.items())),
        calls_by_region={
            region: dict(sorted(calls.items())) for region, calls in sorted(by_region.items())
        },
    )
