"""Which HR events were received and which flow runs they started, kept across restarts.

An event is claimed (with the IAM users it resolved to) before anything is started and completed
with the flow run ids afterwards. A claim left without ids means the receiver stopped in between:
the next delivery starts the same runs again, and Prefect's idempotency key returns the existing
ones instead of creating new runs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    body_sha256 TEXT NOT NULL,
    user_names TEXT NOT NULL,
    flow_run_ids TEXT,
    created_at TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    body_sha256: str
    user_names: tuple[str, ...]
    # None while the runs are being started.
    flow_run_ids: tuple[str, ...] | None


class EventStore:
    """SQLite, one short-lived connection per call, so request threads share nothing."""

    def __init__(self, path: Path, timeout_seconds: float = 10.0) -> None:
        self.path = path
        self.timeout_seconds = timeout_seconds
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            # WAL lets readers (duplicate checks) proceed while a claim is being written.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # Autocommit: each statement below is atomic on its own.
        with closing(
            sqlite3.connect(self.path, timeout=self.timeout_seconds, isolation_level=None)
        ) as conn:
            yield conn

    def get(self, event_id: str) -> StoredEvent | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT event_id, body_sha256, user_names, flow_run_ids FROM events"
                " WHERE event_id = ?",
                (event_id,),
            ).fetchone()
        if row is None:
            return None
        return StoredEvent(
            event_id=row[0],
            body_sha256=row[1],
            user_names=tuple(json.loads(row[2])),
            flow_run_ids=None if row[3] is None else tuple(json.loads(row[3])),
        )

    def claim(self, event_id: str, body_sha256: str, user_names: tuple[str, ...]) -> StoredEvent:
        """Record the event unless it is there already; returns what is stored, which is another
        request's claim when two deliveries race."""
        with self._connect() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO events (event_id, body_sha256, user_names, created_at)"
                " VALUES (?, ?, ?, ?)",
                (event_id, body_sha256, json.dumps(user_names), datetime.now(UTC).isoformat()),
            )
        stored = self.get(event_id)
        assert stored is not None  # rows are never deleted
        return stored

    def complete(self, event_id: str, flow_run_ids: tuple[str, ...]) -> tuple[str, ...]:
        """Record the run ids unless a racing delivery did first; returns the recorded ids."""
        with self._connect() as conn:
            conn.execute(
                "UPDATE events SET flow_run_ids = ? WHERE event_id = ? AND flow_run_ids IS NULL",
                (json.dumps(flow_run_ids), event_id),
            )
        stored = self.get(event_id)
        assert stored is not None and stored.flow_run_ids is not None
        return stored.flow_run_ids
