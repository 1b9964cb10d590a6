"""EC2 DescribeRegions answers only the regions of the caller's partition, as AWS does: moto
lists China and GovCloud regions too, where the sandbox's keys (like real ones) are not valid."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend
from moto.utilities.utils import get_partition


def _wrap(original: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
    @functools.wraps(original)
    def describe_regions(self: Any, region_names: list[str] | None = None) -> list[Any]:
        partition = get_partition(self.region_name)
        return [r for r in original(self, region_names) if get_partition(r.name) == partition]

    return describe_regions


def install_partition_regions() -> None:
    RegionsAndZonesBackend.describe_regions = _wrap(RegionsAndZonesBackend.describe_regions)  # type: ignore[method-assign]
