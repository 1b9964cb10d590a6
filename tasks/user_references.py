"""What a reference scan found naming one user, as the plan, the review and the snapshot
record it."""

from __future__ import annotations

from tasks.frozen import Frozen
from tasks.references.found import NotScanned, Reference
from tasks.references.scan import ReferenceScan


class UserReferences(Frozen):
    """What a scan found naming one user (by ARN or unique id), and what it could not read:
    for the plan, the review and the snapshot."""

    services: tuple[str, ...]
    regions: tuple[str, ...]
    found: tuple[Reference, ...]
    not_scanned: tuple[NotScanned, ...]

    @classmethod
    def of(cls, scan: ReferenceScan, *principals: str) -> UserReferences:
        return cls(
            services=tuple(scan.services),
            regions=tuple(scan.regions),
            found=tuple(scan.naming(*principals)),
            not_scanned=tuple(scan.not_scanned),
        )
