"""The engine's own audit trail: append-only, hash-chained JSON lines, sealed by signed
checkpoints."""

from audit.checkpoint import Checkpoint
from audit.records import AuditEvent, AuditRecord, AuditTarget, Outcome
from audit.sealed import SealReport, verify_sealed
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
    "Checkpoint",
    "Outcome",
    "SealReport",
    "default_trail",
    "read_records",
    "verify",
    "verify_sealed",
]
