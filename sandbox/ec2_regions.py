"""DescribeRegions lists the regions of the caller's partition only, as AWS does.

moto 5.2 lists every partition's regions (``cn-north-1``, ``us-gov-west-1``), which no key of
the ``aws`` partition can call: a scan of every enabled region would stop at them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.ec2.models.availability_zones_and_regions import Region, RegionsAndZonesBackend
from moto.utilities.utils import get_partition

__all__ = ["install_partition_regions"]


def _own_partition(
    original: Callable[..., list[Region]],
) -> Callable[..., list[Region]]:
    @functools.wraps(original)
    def describe_regions(self: Any, region_names: list[str] | None = None) -> list[Region]:
        partition = get_partition(self.region_name)
        return [r for r in original(self, region_names) if get_partition(r.name) == partition]

    return describe_regions


def install_partition_regions() -> None:
    RegionsAndZonesBackend.describe_regions = _own_partition(  # type: ignore[method-assign]
        RegionsAndZonesBackend.describe_regions
    )
