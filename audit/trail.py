"""Appending to the audit trail and checking its hash chain.

Appends are serialized by a per-file thread lock and an exclusive ``flock`` on the log itself,
so any number of threads and processes on one host may write the same file. Readers take a
shared ``flock`` only long enough to note the file's size: everything before that offset is
complete lines that no writer touches again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from audit.records import (
    GENESIS_HASH,
    AuditEvent,
    AuditRecord,
    canonical_json,
    content_hash,
    sha256_hex,
)
from config.settings import get_settings

_READ_CHUNK = 8192


class AuditTrailError(Exception):
    """The log cannot be appended to or read as it stands; ``verify`` says why."""


class ChainReport(BaseModel):
    """The result of checking an audit log's hash chain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool
    # Records checked intact: all of them, or those before the first bad line.
    records: int
    # SHA-256 of the last intact line. Kept elsewhere, it also reveals lines cut off the end,
    # which the chain alone cannot.
    head_hash: str | None
    first_bad_line: int | None
    problem: str | None


# Threads of one process share a lock per file; flock alone would also work between separate
# descriptors, but the lock keeps waiting threads off the file.
_registry_guard = threading.Lock()
_file_locks: dict[str, threading.Lock] = {}


def _reset_locks_in_child() -> None:
    # A lock held by another thread at fork time would never be released in the child.
    global _registry_guard, _file_locks
    _registry_guard = threading.Lock()
    _file_locks = {}


os.register_at_fork(after_in_child=_reset_locks_in_child)


def _lock_for(path: Path) -> threading.Lock:
    with _registry_guard:
        return _file_locks.setdefault(str(path), threading.Lock())


class AuditTrail:
    """An append-only, hash-chained JSON-lines audit log at ``path``."""

    def __init__(self, path: Path | str) -> None:
        # Absolute now, so a later change of working directory does not move the log.
        self._path = Path(os.path.abspath(path))

    @property
    def path(self) -> Path:
        return self._path

    def __repr__(self) -> str:
        return f"AuditTrail({str(self._path)!r})"

    def append(self, event: AuditEvent) -> AuditRecord:
        """Write ``event`` as the next record and return it once it is on disk.

        Raises ``AuditTrailError`` when the last line is incomplete or not a record (the next
        seq cannot be known), and ``OSError`` when the file cannot be written; a failed write
        leaves the file as it was.
        """
        with _lock_for(self._path):
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                if size == 0:
                    seq, prev_hash = 1, GENESIS_HASH
                else:
                    last = self._last_line(fd, size)
                    seq, prev_hash = self._seq_of(last) + 1, sha256_hex(last)
                record = AuditRecord.seal(
                    event, seq=seq, time=datetime.now(UTC), prev_hash=prev_hash
                )
                self._write(fd, record.to_line() + b"\n", size)
                if size == 0:
                    _fsync_directory(self._path.parent)
            finally:
                # Closing the descriptor releases the flock.
                os.close(fd)
        return record

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        try:
            return os.open(self._path, flags, 0o640)
        except FileNotFoundError:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self._path, flags, 0o640)

    def _last_line(self, fd: int, size: int) -> bytes:
        if os.pread(fd, 1, size - 1) != b"\n":
            raise AuditTrailError(
                f"{self._path} ends with an incomplete line; check it with 'offboard audit verify'"
            )
        chunks: list[bytes] = []
        end = size - 1
        while end > 0:
            start = max(0, end - _READ_CHUNK)
            chunk = os.pread(fd, end - start, start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                chunks.append(chunk[newline + 1 :])
                break
            chunks.append(chunk)
            end = start
        return b"".join(reversed(chunks))

    def _seq_of(self, line: bytes) -> int:
        try:
            seq = json.loads(line).get("seq")
        except (ValueError, AttributeError):
            seq = None
        if type(seq) is not int or seq < 1:
            raise AuditTrailError(
                f"the last line of {self._path} is not an audit record; "
                "check it with 'offboard audit verify'"
            )
        return seq

    def _write(self, fd: int, data: bytes, size: int) -> None:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            # A torn line would break the chain for every later append.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise


def _fsync_directory(directory: Path) -> None:
    # Makes a newly created log survive a crash, not just its contents.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _snapshot_lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes without the newline, whether it ended with one) up to the size the
    file had when no append was in progress."""
    with path.open("rb") as file:
        fcntl.flock(file.fileno(), fcntl.LOCK_SH)
        try:
            remaining = os.fstat(file.fileno()).st_size
        finally:
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)
        number = 0
        while remaining > 0:
            raw = file.readline(remaining)
            if not raw:
                return
            remaining -= len(raw)
            number += 1
            complete = raw.endswith(b"\n")
            yield number, raw[:-1] if complete else raw, complete


def _parse_line(line: bytes, complete: bool) -> AuditRecord | str:
    """The record on one line, or why the line is not a sound record by itself."""
    if not complete:
        return "incomplete line (no newline at the end of the file)"
    if not line:
        return "empty line"
    try:
        data = json.loads(line)
    except ValueError:
        return "not valid JSON"
    if not isinstance(data, dict):
        return "not a JSON object"
    try:
        record = AuditRecord.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "record"
        return f"not an audit record: {where}: {error['msg']}".replace("\n", " ")
    if canonical_json(data).encode("ascii") != line:
        return "not in canonical form (the line was edited)"
    # Hashed as read, so even an edit that parses to the same values is caught.
    if content_hash(data) != record.hash:
        return "hash does not match the record (the line was edited)"
    return record


def verify(path: Path | str) -> ChainReport:
    """Check every line of the log at ``path``: its own hash, its seq and its link to the
    line before. Stops at the first bad line."""
    path = Path(path)
    records = 0
    head: str | None = None
    before_head: str | None = None
    try:
        for number, line, complete in _snapshot_lines(path):
            parsed = _parse_line(line, complete)
            if isinstance(parsed, str):
                return _broken(number, parsed, records, head)
            if parsed.seq != number:
                problem = f"seq is {parsed.seq}, expected {number} (a line was deleted or moved)"
                return _broken(number, problem, records, head)
            if parsed.prev_hash != (head or GENESIS_HASH):
                if number == 1:
                    problem = "prev_hash is not 64 zeros (lines were removed from the start)"
                    return _broken(1, problem, 0, None)
                # This line vouches for itself, so the line it links to is the one that changed.
                problem = f"does not match the prev_hash in line {number} (the line was edited)"
                return _broken(number - 1, problem, number - 2, before_head)
            records = number
            before_head, head = head, sha256_hex(line)
    except FileNotFoundError:
        return _unreadable(f"no audit log at {path}")
    except OSError as exc:
        return _unreadable(f"cannot read audit log at {path}: {exc.strerror or exc}")
    return ChainReport(ok=True, records=records, head_hash=head, first_bad_line=None, problem=None)


def _broken(line: int, problem: str, records: int, head: str | None) -> ChainReport:
    return ChainReport(
        ok=False, records=records, head_hash=head, first_bad_line=line, problem=problem
    )


def _unreadable(problem: str) -> ChainReport:
    return ChainReport(ok=False, records=0, head_hash=None, first_bad_line=None, problem=problem)


def read_records(path: Path | str) -> Iterator[AuditRecord]:
    """The records of the log at ``path`` in file order, without checking the chain (use
    ``verify`` for that). Raises ``FileNotFoundError`` for a missing log and
    ``AuditTrailError`` at a line that is not a record."""
    path = Path(path)
    for number, line, complete in _snapshot_lines(path):
        try:
            if not complete:
                raise ValueError("incomplete line")
            record = AuditRecord.model_validate_json(line)
        except ValueError:
            raise AuditTrailError(f"line {number} of {path} is not an audit record") from None
        yield record


def default_trail() -> AuditTrail:
    """The trail at the ``audit_log`` setting (``OFFBOARD_AUDIT_LOG``)."""
    return AuditTrail(get_settings().audit_log)
