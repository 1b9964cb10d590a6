"""Audit appends from many threads at once, as a batch's workers make them.

    python bench/bench_audit.py --threads 8 --records 50

Prints the wall time, appends per second and how many fsyncs the log and its checkpoints
took (group commit: records pending together share one).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit import AuditEvent, AuditTarget, AuditTrail  # noqa: E402
from audit.checkpoint import CheckpointSigner  # noqa: E402


def event(user: str, i: int) -> AuditEvent:
    return AuditEvent(
        run_id=f"run-{user}",
        flow="offboard-user",
        step="access_keys",
        actor="arn:aws:iam::123456789012:user/admin",
        target=AuditTarget(
            account="123456789012", user_name=user, user_arn=None, user_id=f"AIDA{user.upper()}"
        ),
        action="iam:DeleteAccessKey",
        resources=(f"{user}:{i}",),
        outcome="done",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--records", type=int, default=50, help="appends per thread")
    parser.add_argument("--dir", type=Path, default=None, help="where the log goes (a disk)")
    args = parser.parse_args()

    calls = 0
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        nonlocal calls
        calls += 1  # under the trail's lock or racing harmlessly: a count, not a guarantee
        real_fsync(fd)

    with tempfile.TemporaryDirectory(dir=args.dir or ROOT) as home:
        log = Path(home) / "audit.jsonl"
        signer = CheckpointSigner(Path(home) / "signing.pem")
        AuditTrail(log, signer=signer).append(event("first", 0))
        os.fsync = counting_fsync
        start = threading.Barrier(args.threads + 1)

        def work(index: int) -> None:
            trail = AuditTrail(log, signer=signer)
            start.wait()
            for i in range(args.records):
                trail.append(event(f"user{index}", i))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(args.threads)]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
        os.fsync = real_fsync

    appends = args.threads * args.records
    print(f"{appends} appends from {args.threads} threads: {wall:.2f} s, {appends / wall:.0f}/s")
    print(f"fsyncs (log + checkpoints): {calls}, {calls / appends:.2f} per append")


if __name__ == "__main__":
    main()
