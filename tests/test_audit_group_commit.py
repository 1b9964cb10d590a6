"""Group commit: threads appending at once share fsyncs, and each append returns only once its
own record and checkpoint are on disk, the chain and its checkpoints intact."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from audit import AuditRecord, AuditTrail
from audit.checkpoint import CheckpointSigner, checkpoint_path, parse_checkpoint
from audit.sealed import verify_sealed
from audit.signing import load_signing_key
from tests.test_audit_checkpoints import event

THREADS = 16
PER_THREAD = 5


class DiskWatch:
    """os.fsync that notes, per file, how many bytes it has made durable and how often."""

    def __init__(self, files: list[Path]) -> None:
        self._real = os.fsync
        self._guard = threading.Lock()
        self.synced = dict.fromkeys(files, 0)
        self.calls = dict.fromkeys(files, 0)

    def fsync(self, fd: int) -> None:
        target = Path(os.readlink(f"/proc/self/fd/{fd}"))
        size = os.fstat(fd).st_size  # everything written before the call is covered by it
        time.sleep(0.005)  # a disk's flush takes a while: other appenders queue up meanwhile
        self._real(fd)
        with self._guard:
            if target in self.synced:
                self.synced[target] = max(self.synced[target], size)
                self.calls[target] += 1

    def durable(self) -> dict[Path, int]:
        with self._guard:
            return dict(self.synced)


def line_ends(path: Path) -> list[int]:
    ends, total = [], 0
    for line in path.read_bytes().splitlines(keepends=True):
        total += len(line)
        ends.append(total)
    return ends


def test_concurrent_appends_share_fsyncs_and_return_only_once_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "keys" / "signing.pem"
    trail = AuditTrail(tmp_path / "audit.jsonl", signer=CheckpointSigner(key_file))
    trail.append(event("first", 0))  # the log, its checkpoints and the key exist from here on
    log, sidecar = trail.path, checkpoint_path(trail.path)
    watch = DiskWatch([log, sidecar])
    monkeypatch.setattr(os, "fsync", watch.fsync)

    start = threading.Barrier(THREADS)
    returned: list[tuple[AuditRecord, dict[Path, int]]] = []
    guard = threading.Lock()

    def appender(index: int) -> None:
        # Each thread its own trail object, as each flow run has.
        mine = AuditTrail(log, signer=CheckpointSigner(key_file))
        start.wait()
        for i in range(PER_THREAD):
            record = mine.append(event(f"user{index}", i))
            durable = watch.durable()
            with guard:
                returned.append((record, durable))

    threads = [threading.Thread(target=appender, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    appended = THREADS * PER_THREAD
    assert sorted(record.seq for record, _ in returned) == list(range(2, appended + 2))
    report = verify_sealed(log, load_signing_key(key_file).public_key())
    assert report.ok, report.problem
    assert (report.records, report.checkpoints, report.unsealed) == (appended + 1, appended + 1, 0)

    # Each append came back only after an fsync covering its record's line and its checkpoint.
    log_ends = line_ends(log)
    checkpoint_seqs = []
    for line in sidecar.read_bytes().splitlines():
        checkpoint = parse_checkpoint(line)
        assert not isinstance(checkpoint, str)
        checkpoint_seqs.append(checkpoint.seq)
    checkpoint_ends = line_ends(sidecar)
    for record, durable in returned:
        assert log_ends[record.seq - 1] <= durable[log]
        assert checkpoint_ends[checkpoint_seqs.index(record.seq)] <= durable[sidecar]

    # Records pending together went to disk together.
    assert watch.calls[log] < appended
    assert watch.calls[sidecar] < appended


def test_a_single_append_still_fsyncs_its_record_and_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "keys" / "signing.pem"
    trail = AuditTrail(tmp_path / "audit.jsonl", signer=CheckpointSigner(key_file))
    trail.append(event("first", 0))
    watch = DiskWatch([trail.path, checkpoint_path(trail.path)])
    monkeypatch.setattr(os, "fsync", watch.fsync)

    trail.append(event("second", 1))

    assert watch.calls == {trail.path: 1, checkpoint_path(trail.path): 1}
    assert watch.synced == {
        trail.path: trail.path.stat().st_size,
        checkpoint_path(trail.path): checkpoint_path(trail.path).stat().st_size,
    }
