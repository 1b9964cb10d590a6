"""Which HR events were received and which flow runs they started, kept across restarts.

An event is claimed (with the IAM users it resolved to) before anything is started and completed
with the flow run ids afterwards. A claim carries a lease: while it runs, concurrent deliveries
of the same event wait for the ids instead of starting runs themselves, so exactly one answer
says "not a duplicate". A claim left without ids means the receiver stopped in between (or the
start failed and the claim was released): once its lease has run out, the next delivery starts
the same runs again, and Prefect's idempotency key returns the existing ones instead of creating
new runs.
"""

from __future__ import annotations

import json
import sqlite3
import time
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
    created_at TEXT NOT NULL,
    lease_until REAL
)
"""
# Databases written before claims had a lease; their open claims count as expired.
ADD_LEASE = "ALTER TABLE events ADD COLUMN lease_until REAL"
# Long enough for Prefect to create a few runs; a stopped receiver's claim is free after it.
LEASE_SECONDS = 30.0
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    body_sha256: str
    user_names: tuple[str, ...]
    # None while the runs are being started.
    flow_run_ids: tuple[str, ...] | None


@dataclass(frozen=True)
class Claim:
    """What is stored for the event, and whether this delivery holds it (and starts the runs)."""

    stored: StoredEvent
    owned: bool


class EventStore:
    """SQLite, one short-lived connection per call, so request threads share nothing."""

    def __init__(
        self, path: Path, timeout_seconds: float = 10.0, lease_seconds: float = LEASE_SECONDS
    ) -> None:
        self.path = path
        self.timeout_seconds = timeout_seconds
        self.lease_seconds = lease_seconds
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            # WAL lets readers (duplicate checks) proceed while a claim is being written.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
            if "lease_until" not in columns:
                conn.execute(ADD_LEASE)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # Autocommit unless a statement opens a transaction itself (claim does).
        with closing(
            sqlite3.connect(self.path, timeout=self.timeout_seconds, isolation_level=None)
        ) as conn:
            yield conn

    def get(self, event_id: str) -> StoredEvent | None:
        with self._connect() as conn:
            return self._read(conn, event_id)

    @staticmethod
    def _read(conn: sqlite3.Connection, event_id: str) -> StoredEvent | None:
        row = conn.execute(
            "SELECT event_id, body_sha256, user_names, flow_run_ids FROM events WHERE event_id = ?",
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

    def claim(self, event_id: str, body_sha256: str, user_names: tuple[str, ...]) -> Claim:
        """Record the event and take its lease, unless another delivery holds it or finished it.

        One write transaction (BEGIN IMMEDIATE), so of any number of racing deliveries, in this
        process or another on the same file, exactly one owns the claim."""
        now = time.time()
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                inserted = conn.execute(
                    "INSERT OR IGNORE INTO events"
                    " (event_id, body_sha256, user_names, created_at, lease_until)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        event_id,
                        body_sha256,
                        json.dumps(user_names),
                        datetime.now(UTC).isoformat(),
                        now + self.lease_seconds,
                    ),
                ).rowcount
                # Same body, no runs recorded and nobody holding it: take it over.
                taken_over = (
                    not inserted
                    and conn.execute(
                        "UPDATE events SET lease_until = ? WHERE event_id = ?"
                        " AND body_sha256 = ? AND flow_run_ids IS NULL"
                        " AND (lease_until IS NULL OR lease_until <= ?)",
                        (now + self.lease_seconds, event_id, body_sha256, now),
                    ).rowcount
                )
                stored = self._read(conn, event_id)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        assert stored is not None  # rows are never deleted
        return Claim(stored, owned=bool(inserted or taken_over))

    def release(self, event_id: str) -> None:
        """Give up a claim whose runs could not be started: the next delivery starts them."""
        with self._connect() as conn:
            conn.execute(
                "UPDATE events SET lease_until = NULL WHERE event_id = ? AND flow_run_ids IS NULL",
                (event_id,),
            )

    def wait_for_runs(self, event_id: str) -> StoredEvent | None:
        """The event once its runs are recorded; None when its claim was released or its lease
        ran out first (the caller then tries to claim it)."""
        deadline = time.monotonic() + self.lease_seconds
        while True:
            with self._connect() as conn:
                stored = self._read(conn, event_id)
                lease = conn.execute(
                    "SELECT lease_until FROM events WHERE event_id = ?", (event_id,)
                ).fetchone()
            if stored is not None and stored.flow_run_ids is not None:
                return stored
            if lease is None or lease[0] is None or lease[0] <= time.time():
                return None
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_SECONDS)

    def complete(self, event_id: str, flow_run_ids: tuple[str, ...]) -> tuple[str, ...]:
        """Record the run ids unless a racing delivery did first; returns the recorded ids."""
        with self._connect() as conn:
            conn.execute(
                "UPDATE events SET flow_run_ids = ?, lease_until = NULL"
                " WHERE event_id = ? AND flow_run_ids IS NULL",
                (json.dumps(flow_run_ids), event_id),
            )
        stored = self.get(event_id)
        assert stored is not None and stored.flow_run_ids is not None
        return stored.flow_run_ids
