"""The engine's own audit trail: append-only, hash-chained JSON lines."""

from audit.records import AuditEvent, AuditRecord, AuditTarget, Outcome
from audit.trail import (
    AuditTrail,
    AuditTrailError,
    ChainReport,
    default_trail,
    read_records,
    verify,
)

__all__ = [
    "AuditEvent",
    "AuditRecord",
    "AuditTarget",
    "AuditTrail",
    "AuditTrailError",
    "ChainReport",
    "Outcome",
    "default_trail",
    "read_records",
    "verify",
]
