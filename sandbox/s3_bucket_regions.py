"""ListBuckets as AWS answers it when asked with a parameter: each bucket's region
(``BucketRegion``) and pages of ``MaxBuckets`` with a ``ContinuationToken``.

moto 5.2 never names the region, and cuts the listing at ``MaxBuckets`` without a token, so a
reader would either ask GetBucketLocation once per bucket or miss buckets.
"""

from __future__ import annotations

from typing import Any

from moto.core.common_types import TYPE_RESPONSE
from moto.core.responses import ActionResult
from moto.s3.responses import S3Response

__all__ = ["all_buckets", "install_bucket_regions"]

_original_all_buckets = S3Response.all_buckets
_PARAMETERS = ("max-buckets", "continuation-token", "prefix", "bucket-region")


def all_buckets(self: S3Response) -> TYPE_RESPONSE:
    if not any(self._get_param(name) for name in _PARAMETERS):
        return _original_all_buckets(self)
    self.data["Action"] = "ListAllMyBuckets"
    self._authenticate_and_authorize_s3_action()
    region = self._get_param("bucket-region")
    found = [
        bucket
        for bucket in self.backend.list_buckets(
            prefix=self._get_param("prefix"), bucket_region=region, max_buckets=None
        )
    ]
    found.sort(key=lambda bucket: bucket.name)
    after = self._get_param("continuation-token")
    if after:
        found = [bucket for bucket in found if bucket.name > after]
    limit = int(self._get_param("max-buckets") or 10000)
    page, more = found[:limit], len(found) > limit
    result: dict[str, Any] = {
        "Owner": {"ID": "bcaf1ffd86f41161ca5fb16fd081034f", "DisplayName": "webfile"},
        "Buckets": [
            {
                "Name": bucket.name,
                "CreationDate": bucket.creation_date_ISO8601,
                "BucketRegion": bucket.region_name,
            }
            for bucket in page
        ],
    }
    if more:
        result["ContinuationToken"] = page[-1].name
    self.data["Action"] = "ListBuckets"
    return self.serialized(ActionResult(result))


def install_bucket_regions() -> None:
    S3Response.all_buckets = all_buckets  # type: ignore[method-assign]
