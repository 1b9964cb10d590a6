"""Appending to the audit trail and checking its hash chain.

Appends are serialized by a per-file thread lock and an exclusive ``flock`` on the log itself,
so any number of threads and processes on one host may write the same file. Appends are group
committed: records queued by a process's threads while one of them writes are written next, all
together, by one thread with one fsync (and one for their checkpoints), and each ``append``
returns only once its own record is on disk. Reading and checking the chain: audit.reading.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from audit.checkpoint import (
    Checkpoint,
    CheckpointSigner,
    checkpoint_path,
    count_lines,
    last_line,
    parse_checkpoint,
)
from audit.reading import (
    AuditTrailError,
    ChainReport,
    parse_line,
    read_records,
    verify,
    verify_hint,
)
from audit.records import (
    GENESIS_HASH,
    AuditEvent,
    AuditRecord,
    sha256_hex,
)
from audit.signing import SigningKeyError
from config.engine import engine

# Readers import these from here too.
__all__ = [
    "AuditTrail",
    "AuditTrailError",
    "ChainReport",
    "default_trail",
    "read_records",
    "verify",
    "verify_hint",
]

_READ_CHUNK = 8192
# A record line is a few hundred bytes; a first line longer than this is not one.
_MAX_CHECKED_LINE = 1 << 20


class _Pending:
    """One ``append`` waiting for its record to be written: the record, or why it was not."""

    __slots__ = ("error", "event", "record", "signer")

    def __init__(self, event: AuditEvent, signer: CheckpointSigner | None) -> None:
        self.event = event
        self.signer = signer
        self.record: AuditRecord | None = None
        self.error: BaseException | None = None


class _Committer:
    """The appends of one process to one file. ``writing`` is held by the thread writing a
    group; the others wait on it, and whoever takes it next finds its own record written or
    writes the next group, every record queued meanwhile."""

    def __init__(self) -> None:
        self.writing = threading.Lock()
        self.queue_guard = threading.Lock()
        self.queue: list[_Pending] = []

    def take_group(self, first: _Pending) -> list[_Pending]:
        # One group per signer: its checkpoints go out in one write.
        with self.queue_guard:
            group = [p for p in self.queue if _same_signer(p.signer, first.signer)]
            self.queue = [p for p in self.queue if not _same_signer(p.signer, first.signer)]
        return group


def _same_signer(a: CheckpointSigner | None, b: CheckpointSigner | None) -> bool:
    if a is None or b is None:
        return a is b
    return a is b or a.key_file == b.key_file


# Threads of one process share a committer per file; flock alone would also work between
# separate descriptors, but the committer keeps waiting threads off the file and lets one fsync
# cover all their records.
_registry_guard = threading.Lock()
_committers: dict[str, _Committer] = {}


def _reset_locks_in_child() -> None:
    # A lock held by another thread at fork time would never be released in the child.
    global _registry_guard, _committers
    _registry_guard = threading.Lock()
    _committers = {}


os.register_at_fork(after_in_child=_reset_locks_in_child)


def _committer_for(path: Path) -> _Committer:
    with _registry_guard:
        return _committers.setdefault(str(path), _Committer())


class AuditTrail:
    """An append-only, hash-chained JSON-lines audit log at ``path``.

    With a ``signer``, every record is sealed by a signed checkpoint as it is written (see
    audit.checkpoint), under the same lock, so the checkpoints always follow the log.
    """

    def __init__(self, path: Path | str, signer: CheckpointSigner | None = None) -> None:
        # Absolute now, so a later change of working directory does not move the log.
        self._path = Path(os.path.abspath(path))
        self._signer = signer

    @property
    def path(self) -> Path:
        return self._path

    def __repr__(self) -> str:
        return f"AuditTrail({str(self._path)!r})"

    def append(self, event: AuditEvent) -> AuditRecord:
        """Write ``event`` as the next record and return it once it is on disk.

        Raises ``AuditTrailError`` when the last line is incomplete or not a record (the next
        seq cannot be known) or the signing key cannot be used, and ``OSError`` when the file
        cannot be written; a failed write leaves the log and its checkpoints as they were.
        """
        committer = _committer_for(self._path)
        pending = _Pending(event, self._signer)
        with committer.queue_guard:
            committer.queue.append(pending)
        while pending.record is None and pending.error is None:
            with committer.writing:
                # The thread before may have written this record in its group.
                if pending.record is None and pending.error is None:
                    self._write_group(committer.take_group(pending))
        if pending.error is not None:
            raise pending.error
        assert pending.record is not None
        return pending.record

    def _write_group(self, group: list[_Pending]) -> None:
        """Chain, write and fsync every record of ``group`` (then seal them), handing each
        waiting ``append`` its record or the error that stopped the whole group."""
        signer = group[0].signer
        fd: int | None = None
        try:
            fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size == 0:
                seq, prev_hash = 0, GENESIS_HASH
            else:
                last = self._last_line(fd, size)
                seq, prev_hash = self._seq_of(last), sha256_hex(last)
            lines: list[bytes] = []
            heads: list[tuple[int, str]] = []
            written: list[_Pending] = []
            for pending in group:
                try:
                    record = AuditRecord.seal(
                        pending.event, seq=seq + 1, time=datetime.now(UTC), prev_hash=prev_hash
                    )
                    line = record.to_line()
                except Exception as exc:
                    # This event alone cannot be recorded; the others still are.
                    pending.error = exc
                    continue
                seq, prev_hash = seq + 1, sha256_hex(line)
                lines.append(line + b"\n")
                heads.append((seq, prev_hash))
                pending.record = record
                written.append(pending)
            if written:
                self._write(fd, b"".join(lines), size)
                if signer is not None:
                    self._seal(signer, fd, size, heads)
                if size == 0:
                    _fsync_directory(self._path.parent)
        except BaseException as exc:
            for pending in group:
                pending.record, pending.error = None, pending.error or exc
            if not isinstance(exc, Exception):
                raise
        finally:
            # Closing the descriptor releases the flock.
            if fd is not None:
                os.close(fd)

    def _seal(
        self, signer: CheckpointSigner, fd: int, size: int, heads: list[tuple[int, str]]
    ) -> None:
        try:
            signer.seal(self._path, heads)
        except BaseException as exc:
            # An unsealed record would read as added behind the engine's back.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
                os.fsync(fd)
            if isinstance(exc, SigningKeyError):
                raise AuditTrailError(str(exc)) from None
            raise

    def check_appendable(self) -> None:
        """Raise ``AuditTrailError`` (one line naming the file and line) unless the next record
        can extend this log: absent or empty, or a first and a last line that are sound records,
        and checkpoints that seal no more than the log holds. Cheap: reads both ends only.
        Also loads (or creates) the signing key, so a key problem shows before any work."""
        if self._signer is not None:
            try:
                self._signer.key()
            except SigningKeyError as exc:
                raise AuditTrailError(str(exc)) from None
        try:
            with self._path.open("rb") as file:
                fcntl.flock(file.fileno(), fcntl.LOCK_SH)
                first = file.readline(_MAX_CHECKED_LINE)
                tail = last_line(self._path)
                sealed = last_line(checkpoint_path(self._path))
        except FileNotFoundError:
            first, tail, sealed = b"", None, last_line(checkpoint_path(self._path))
        except OSError as exc:
            raise AuditTrailError(
                f"cannot read audit log {self._path}: {exc.strerror or exc}"
            ) from None
        last_seq = 0
        if tail is not None:
            opening = parse_line(first.rstrip(b"\n"), first.endswith(b"\n"))
            if isinstance(opening, str) or opening.seq != 1 or opening.prev_hash != GENESIS_HASH:
                why = opening if isinstance(opening, str) else "not the first record of a log"
                self._refuse(1, why)
            closing = parse_line(*tail)
            if isinstance(closing, str):
                self._refuse(count_lines(self._path), closing)
            last_seq = closing.seq
        # A checkpoint line torn by a crash is replaced by the next one; only a whole one counts.
        if sealed is not None and sealed[1]:
            checkpoint = parse_checkpoint(sealed[0])
            where = checkpoint_path(self._path)
            if isinstance(checkpoint, str):
                raise AuditTrailError(
                    f"checkpoint file {where} line {count_lines(where)}: {checkpoint}; "
                    f"{verify_hint(self._path)}"
                )
            if checkpoint.seq > last_seq:
                self._refuse(
                    last_seq + 1,
                    f"missing: its checkpoints seal {checkpoint.seq} records, it holds "
                    f"{last_seq} (the end of the log was cut off)",
                )
            rewritten = tail is not None and checkpoint.head != sha256_hex(tail[0])
            if checkpoint.seq == last_seq and rewritten:
                self._refuse(last_seq, "does not match its signed checkpoint (rewritten)")

    def latest_checkpoint(self) -> Checkpoint | None:
        """The last signed checkpoint beside the log: the head to keep elsewhere as an anchor."""
        try:
            with self._path.open("rb") as file:
                fcntl.flock(file.fileno(), fcntl.LOCK_SH)
                sealed = last_line(checkpoint_path(self._path))
        except FileNotFoundError:
            return None
        if sealed is None or not sealed[1]:
            return None
        checkpoint = parse_checkpoint(sealed[0])
        return None if isinstance(checkpoint, str) else checkpoint

    def _refuse(self, line: int, problem: str) -> NoReturn:
        raise AuditTrailError(
            f"audit log {self._path} line {line}: {problem}; {verify_hint(self._path)}"
        )

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


def default_trail() -> AuditTrail:
    """The trail at the ``audit_log`` setting (``OFFBOARD_AUDIT_LOG``), its records sealed with
    the engine's signing key (``OFFBOARD_AUDIT_SIGNING_KEY_FILE``); the engine's one trail."""
    return engine().trail
