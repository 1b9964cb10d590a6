"""Clients for reading and cleaning resource policies: per region, counted, from the current
account scope's factory."""

from __future__ import annotations

from typing import Any

from tasks.aws import current_factory
from tasks.references.calls import counted


def regional_client(service: str, region: str) -> Any:
    return counted(current_factory().regional(service, region))


def global_client(service: str) -> Any:
    """IAM, and S3's bucket listing: one endpoint for the account."""
    return counted(current_factory().client(service))


def region_of(arn: str) -> str:
    return arn.split(":")[3]
