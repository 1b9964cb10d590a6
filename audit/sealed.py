"""Checking the log against its signed checkpoints and an anchor kept elsewhere.

The hash chain alone shows an edited or deleted line, but not lines cut off the end, nor a log
rewritten and re-chained from the first changed line on (the chain needs no secret). The
checkpoints do: each signs the head hash at a seq, so a log shorter than its last checkpoint was
cut, and a head that differs from the recomputed chain was rewritten. An attacker who can write
both files may cut both ends back to an earlier checkpoint; an anchor kept elsewhere (the head in
the run's Prefect artifact or in S3 beside the snapshots, given as ``expect_head``) shows that.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from datetime import datetime
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict

from audit.checkpoint import Checkpoint, checkpoint_path, parse_checkpoint
from audit.signing import key_id
from audit.trail import verify

Verdict = Literal["intact", "tampered", "no_log"]


class SealReport(BaseModel):
    """The chain report's fields, and what the checkpoints and the anchor say."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    verdict: Verdict
    ok: bool
    # The hash chain itself is broken (an edited, deleted or foreign line).
    chain_broken: bool
    records: int
    head_hash: str | None
    first_bad_line: int | None
    problem: str | None
    checkpoints: int
    # The last checkpoint that matches the chain: every record up to it is proven when
    # signatures were checked.
    sealed_seq: int | None
    sealed_at: datetime | None
    key_id: str | None
    signatures_checked: bool
    # Records after the last checkpoint (an error when the signatures are checked).
    unsealed: int
    anchor_seq: int | None


class _Walk:
    """Compares each intact line's hash with the checkpoints at its seq, in one pass."""

    def __init__(self, checkpoints: list[Checkpoint], expect_head: str | None) -> None:
        self.checkpoints = checkpoints
        self.expect_head = expect_head
        self.next = 0
        self.mismatch: Checkpoint | None = None
        self.last_match: Checkpoint | None = None
        self.anchor_seq: int | None = None

    def __call__(self, seq: int, line_hash: str) -> None:
        if line_hash == self.expect_head and self.anchor_seq is None:
            self.anchor_seq = seq
        while self.next < len(self.checkpoints) and self.checkpoints[self.next].seq == seq:
            checkpoint = self.checkpoints[self.next]
            if checkpoint.head == line_hash:
                self.last_match = checkpoint
            elif self.mismatch is None:
                self.mismatch = checkpoint
            self.next += 1


def read_checkpoints(log: Path) -> tuple[list[Checkpoint], str | None]:
    """The checkpoints beside ``log`` in file order, or the first bad line's problem. Read under
    the log's shared lock, so that every checkpoint read seals a line already in the log."""
    path = checkpoint_path(log)
    try:
        with contextlib.ExitStack() as stack:
            with contextlib.suppress(FileNotFoundError):
                held = stack.enter_context(log.open("rb"))
                fcntl.flock(held.fileno(), fcntl.LOCK_SH)
            with path.open("rb") as file:
                data = file.read(os.fstat(file.fileno()).st_size)
    except FileNotFoundError:
        return [], None
    if not data:
        return [], None
    complete = data.endswith(b"\n")
    lines = (data[:-1] if complete else data).split(b"\n")
    found: list[Checkpoint] = []
    for number, line in enumerate(lines, start=1):
        if number == len(lines) and not complete:
            # Torn by a crash mid-write; the next record's checkpoint replaces it.
            break
        parsed = parse_checkpoint(line)
        if isinstance(parsed, str):
            return found, f"checkpoint file {path} line {number}: {parsed}"
        if found and parsed.seq < found[-1].seq:
            return found, f"checkpoint file {path} line {number}: seq goes backwards"
        found.append(parsed)
    return found, None


def verify_sealed(
    log: Path | str,
    public_key: Ed25519PublicKey | None = None,
    expect_head: str | None = None,
) -> SealReport:
    """The log's chain, checked against its checkpoints (signatures too, given the public key)
    and against ``expect_head``, the SHA-256 of a line noted elsewhere."""
    log = Path(log)
    checkpoints, checkpoint_problem = read_checkpoints(log)
    walk = _Walk(checkpoints, expect_head)
    chain = verify(log, walk)
    fields = chain.model_dump()
    base = {
        **fields,
        "chain_broken": not chain.ok and chain.first_bad_line is not None,
        "checkpoints": len(checkpoints),
        "sealed_seq": walk.last_match.seq if walk.last_match else None,
        "sealed_at": walk.last_match.time if walk.last_match else None,
        "key_id": walk.last_match.key if walk.last_match else None,
        "signatures_checked": public_key is not None,
        "unsealed": chain.records - (walk.last_match.seq if walk.last_match else 0),
        "anchor_seq": walk.anchor_seq,
    }

    def report(verdict: Verdict, problem: str | None = None, line: int | None = None) -> SealReport:
        changes: dict[str, object] = {"verdict": verdict, "ok": verdict == "intact"}
        if problem is not None:
            changes |= {"problem": problem, "first_bad_line": line}
        return SealReport.model_validate(base | changes)

    if not chain.ok:
        if chain.first_bad_line is not None:
            return report("tampered", chain.problem, chain.first_bad_line)
        if not checkpoints:
            return report("no_log", chain.problem)
        # The log is gone (or unreadable) but its checkpoints are not.
        sealed = checkpoints[-1].seq
        return report(
            "tampered", f"cut-off tail: checkpoints seal {sealed} records; {chain.problem}"
        )
    if checkpoint_problem is not None:
        return report("tampered", checkpoint_problem)
    if walk.mismatch is not None:
        seq = walk.mismatch.seq
        if public_key is None:
            problem = (
                f"record {seq} does not match its checkpoint: history rewritten at or before "
                f"line {seq}, or the checkpoint forged (--public-key tells which)"
            )
        elif walk.mismatch.signature_valid(public_key):
            problem = (
                f"forged chain: record {seq} does not match its signed checkpoint "
                f"(history rewritten at or before line {seq})"
            )
        else:
            problem = f"forged checkpoint: the one for record {seq} is not signed by this key"
        return report("tampered", problem, seq)
    sealed = checkpoints[-1].seq if checkpoints else 0
    if sealed > chain.records:
        cut = sealed - chain.records
        return report(
            "tampered",
            f"cut-off tail: checkpoints seal {sealed} records, the log holds {chain.records} "
            f"({cut} missing from the end)",
            chain.records + 1,
        )
    if chain.records == 0:
        return report("no_log", f"audit log {log} is empty: no records to verify")
    if public_key is not None:
        unproven = _signature_problem(walk.last_match, public_key, chain.records, log)
        if unproven is not None:
            return report("tampered", unproven, (walk.last_match.seq if walk.last_match else 0) + 1)
    if expect_head is not None and walk.anchor_seq is None:
        return report(
            "tampered",
            f"the anchor head {expect_head} is not in the chain "
            "(records cut off the end, or history rewritten)",
        )
    return report("intact")


def _signature_problem(
    last: Checkpoint | None, public_key: Ed25519PublicKey, records: int, log: Path
) -> str | None:
    """Why the records are not proven by a signature of this key, or None when they are."""
    if last is None:
        return f"no signed checkpoint beside {log}: nothing proves its {records} records"
    if last.key != key_id(public_key) or not last.signature_valid(public_key):
        return (
            f"the checkpoint for record {last.seq} is not signed by key {key_id(public_key)} "
            f"(signed as {last.key}: forged, or another key)"
        )
    if records > last.seq:
        return (
            f"{records - last.seq} records after record {last.seq} are not sealed by a "
            "signed checkpoint (added behind the engine's back)"
        )
    return None
