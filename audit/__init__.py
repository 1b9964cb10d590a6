"""The engine's own audit trail: append-only, hash-chained JSON lines, sealed by signed
checkpoints.

The names below load their module on first use, so that importing one part (the CLI's error
handling needs only ``AuditTrailError``) does not load the signing code with it.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Checkpoint": "audit.checkpoint",
    "AuditEvent": "audit.records",
    "AuditRecord": "audit.records",
    "AuditTarget": "audit.records",
    "Outcome": "audit.records",
    "SealReport": "audit.sealed",
    "verify_sealed": "audit.sealed",
    "AuditTrail": "audit.trail",
    "default_trail": "audit.trail",
    "AuditTrailError": "audit.reading",
    "ChainReport": "audit.reading",
    "read_records": "audit.reading",
    "verify": "audit.reading",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'audit' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
