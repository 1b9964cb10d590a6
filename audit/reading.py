"""Reading the audit trail: its records in order, and checking its hash chain line by line.

Readers take a shared ``flock`` only long enough to note the file's size: everything before that
offset is complete lines that no writer touches again.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from audit.records import (
    GENESIS_HASH,
    AuditRecord,
    canonical_json,
    content_hash,
    parse_json_line,
    sha256_hex,
)


class AuditTrailError(Exception):
    """The log cannot be appended to or read as it stands; ``verify`` says why."""


def verify_hint(path: Path) -> str:
    return f"check it with 'offboard audit verify {path}'"


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


def parse_line(line: bytes, complete: bool) -> AuditRecord | str:
    """The record on one line, or why the line is not a sound record by itself."""
    if not complete:
        return "incomplete line (no newline at the end of the file)"
    if not line:
        return "empty line"
    parsed = parse_json_line(line, AuditRecord, "an audit record")
    if isinstance(parsed, str):
        return parsed
    data, record = parsed
    if canonical_json(data).encode("ascii") != line:
        return "not in canonical form (the line was edited)"
    # Hashed as read, so even an edit that parses to the same values is caught.
    if content_hash(data) != record.hash:
        return "hash does not match the record (the line was edited)"
    return record


def verify(
    path: Path | str, on_intact_line: Callable[[int, str], None] | None = None
) -> ChainReport:
    """Check every line of the log at ``path``: its own hash, its seq and its link to the
    line before. Stops at the first bad line. ``on_intact_line(seq, line_hash)`` is called for
    each line once it is known to be intact (the checkpoint check uses it)."""
    path = Path(path)
    records = 0
    head: str | None = None
    before_head: str | None = None
    try:
        for number, line, complete in _snapshot_lines(path):
            parsed = parse_line(line, complete)
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
            if number > 1 and on_intact_line is not None:
                assert head is not None
                on_intact_line(number - 1, head)
            records = number
            before_head, head = head, sha256_hex(line)
    except FileNotFoundError:
        return _unreadable(f"no audit log at {path}")
    except OSError as exc:
        return _unreadable(f"cannot read audit log at {path}: {exc.strerror or exc}")
    if head is not None and on_intact_line is not None:
        on_intact_line(records, head)
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
