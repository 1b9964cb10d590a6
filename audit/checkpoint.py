"""Signed checkpoints of the audit trail, kept in a file beside the log.

A checkpoint says "the log held ``seq`` records and the SHA-256 of record ``seq``'s line was
``head``", at ``time``, signed with the engine's Ed25519 key. Each line hashes the one before, so
one valid checkpoint vouches for every record up to its ``seq``. The checkpoints live in their own
file (``audit.jsonl.checkpoints`` beside ``audit.jsonl``): lines cut off the end of the log leave
checkpoints that seal more records than remain, and a log rewritten and re-chained no longer
matches the signed heads.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from audit.records import Sha256Hex, canonical_json, parse_json_line
from audit.signing import key_id, load_signing_key, verifies

FORMAT_VERSION = 1
# Domain separation: a checkpoint signature can never be mistaken for a signature of anything
# else made with the same key.
SIGNATURE_CONTEXT = b"offboard-audit-checkpoint\n"


def checkpoint_path(log: Path) -> Path:
    """The checkpoint file of the log at ``log``."""
    return log.with_name(log.name + ".checkpoints")


class Checkpoint(BaseModel):
    """One signed statement of the log's length and head."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: int = FORMAT_VERSION
    seq: int = Field(ge=1)
    head: Sha256Hex
    time: AwareDatetime
    key: str = Field(pattern=r"^[0-9a-f]{16}$")
    sig: str

    @field_validator("time")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def signed_bytes(self) -> bytes:
        body = self.model_dump(mode="json", exclude={"sig"})
        return SIGNATURE_CONTEXT + canonical_json(body).encode("ascii")

    def signature_valid(self, public_key: Ed25519PublicKey) -> bool:
        try:
            signature = base64.b64decode(self.sig, validate=True)
        except (binascii.Error, ValueError):
            return False
        return verifies(public_key, signature, self.signed_bytes())

    def to_line(self) -> bytes:
        return canonical_json(self.model_dump(mode="json")).encode("ascii")


def sign_checkpoint(private_key: Ed25519PrivateKey, seq: int, head: str) -> Checkpoint:
    unsigned = Checkpoint(
        seq=seq,
        head=head,
        time=datetime.now(UTC),
        key=key_id(private_key.public_key()),
        sig="",
    )
    signature = private_key.sign(unsigned.signed_bytes())
    return unsigned.model_copy(update={"sig": base64.b64encode(signature).decode("ascii")})


def parse_checkpoint(line: bytes) -> Checkpoint | str:
    """The checkpoint on one line (without its newline), or why the line is not one."""
    parsed = parse_json_line(line, Checkpoint, "a checkpoint")
    if isinstance(parsed, str):
        return parsed
    checkpoint = parsed[1]
    if checkpoint.v != FORMAT_VERSION:
        return f"checkpoint format {checkpoint.v} is not known"
    return checkpoint


class CheckpointSigner:
    """Seals records as the trail writes them: one signed checkpoint per record.

    The key is loaded (or created) on first use, so a trail that is only read never makes one.
    """

    def __init__(self, key_file: Path | None = None) -> None:
        self._key_file = key_file

    @property
    def key_file(self) -> Path | None:
        return self._key_file

    def key(self) -> Ed25519PrivateKey:
        return load_signing_key(self._key_file)

    def seal(self, log: Path, heads: Sequence[tuple[int, str]]) -> list[Checkpoint]:
        """Append a checkpoint for each ``(seq, head)`` to the log's checkpoint file, with one
        fsync for them all; the caller holds the log's lock. A failed write leaves the file as
        it was."""
        key = self.key()
        checkpoints = [sign_checkpoint(key, seq, head) for seq, head in heads]
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        fd = os.open(checkpoint_path(log), flags, 0o640)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # Torn by a crash mid-write; these checkpoints seal everything that one did.
                size = _drop_torn_line(fd, size)
            try:
                view = memoryview(b"".join(c.to_line() + b"\n" for c in checkpoints))
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)
        return checkpoints


def _drop_torn_line(fd: int, size: int) -> int:
    start = max(0, size - 8192)
    kept = start + os.pread(fd, size - start, start).rfind(b"\n") + 1
    os.ftruncate(fd, kept)
    return kept


def last_line(path: Path) -> tuple[bytes, bool] | None:
    """The last line of a file (without its newline) and whether it ended with one; None when
    the file is absent or empty."""
    try:
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size == 0:
                return None
            end = size - 1 if os.pread(file.fileno(), 1, size - 1) == b"\n" else size
            data = b""
            start = end
            while start > 0 and b"\n" not in data:
                start = max(0, start - 8192)
                data = os.pread(file.fileno(), end - start, start)
    except FileNotFoundError:
        return None
    return data.rsplit(b"\n", 1)[-1], end < size


def count_lines(path: Path) -> int:
    """Lines in a file, a last one without its newline included (for messages only)."""
    count, last = 0, b"\n"
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 16), b""):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (0 if last == b"\n" else 1)
