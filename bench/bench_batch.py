"""The batch flow vs. raw boto3 loops (and the seed's AWS CLI procedure), on one sandbox.

    python bench/bench_batch.py --users 200

The sandbox runs in its own process (``python -m sandbox``); every user carries every attachment
kind (sandbox.fixtures.create_loaded_user). Measured in this one run:

* floor: raw boto3, one user after another, with the fewest calls of the seed's procedure;
* the same loop on 8 threads;
* the engine's batch flow with default settings, except the IAM call rate: unlimited, so the
  engine's own overhead is compared with the floor's;
* at a realistic IAM latency (``--latency-ms``, a second sandbox that delays every call): the
  floor, the engine at its default concurrency, and how close the engine holds the default call
  rate (bench/latency_case.py);
* commands in new processes (bench/cli_case.py): the seed's AWS CLI procedure (``aws iam ...``
  per command, when ``aws`` is installed), ``offboard run USER --yes`` and ``offboard batch``
  against the running server, ``offboard run`` with no server configured, ``offboard --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_offboard import counting_client, floor_offboard, free_port, start_sandbox  # noqa: E402
from bench.cli_case import print_cli_case, run_cli_case  # noqa: E402
from bench.latency_case import EngineProbe, print_latency_case, run_latency_case  # noqa: E402

# Deletion calls are lists and deletes; everything else the engine calls is counted apart.
SAFETY_ACTIONS = frozenset(
    {
        "GenerateServiceLastAccessedDetails",
        "GetServiceLastAccessedDetails",
        "GetAccessKeyLastUsed",
        "GetUserPolicy",
        "GetSSHPublicKey",
    }
)


def seed_users(endpoint: str, prefix: str, count: int, threads: int = 8) -> list[str]:
    """Create ``count`` loaded users on several threads; returns their names.

    moto's backend is not thread-safe and now and then answers a concurrent write with a 500:
    such a user is left as it is and another one is made in its place.
    """
    from sandbox.fixtures import create_loaded_user

    admin, _ = counting_client(endpoint)

    def make(index: int) -> str:
        for attempt in range(5):
            name = f"{prefix}-{index:04d}" + (f"-r{attempt}" if attempt else "")
            try:
                create_loaded_user(admin, name)
            except Exception:
                continue
            return name
        raise RuntimeError(f"could not seed user {prefix}-{index:04d}")

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(make, range(count)))


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def profiling(out: Path | None) -> Iterator[None]:
    """py-spy samples this process (every thread, GIL holders only) while the block runs."""
    if out is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [spy, "record", "--gil", "--format", "raw", "--pid", str(os.getpid()), "-o", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches before the measured work starts
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
        proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument(
        "--latency-ms", type=float, default=40, help="per-call latency of the second case (0: skip)"
    )
    parser.add_argument(
        "--latency-users", type=int, default=20, help="users per run at that latency"
    )
    parser.add_argument(
        "--limited-users", type=int, default=10, help="users for the run at the default rate"
    )
    parser.add_argument(
        "--cli-users", type=int, default=3, help="users for the aws CLI and for `offboard run`"
    )
    parser.add_argument("--cli-batch-users", type=int, default=40, help="users of `offboard batch`")
    parser.add_argument(
        "--no-server-run",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time one `offboard run` with no server configured (a temporary one starts)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="FILE",
        help="profile the rate-off engine batch with `py-spy record --gil --format raw` into FILE",
    )
    args = parser.parse_args()
    n = args.users

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    sandbox_env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_IAM": endpoint,
        "AWS_ENDPOINT_URL_STS": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    os.environ.update(
        {
            **sandbox_env,
            "OFFBOARD_LOG_LEVEL": "WARNING",
            "OFFBOARD_AUDIT_LOG": str(workdir / "audit.jsonl"),
            "OFFBOARD_SNAPSHOT_STORE": str(workdir / "snapshots"),
            "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
            # As the CLI: the console shows warnings and errors only.
            "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
        }
    )
    # The engine's own Prefect settings, as the CLI and the flows apply them.
    from config.prefect_runtime import apply_prefect_defaults

    apply_prefect_defaults()
    proc = start_sandbox(port)
    slow_port = free_port()
    slow_endpoint = f"http://127.0.0.1:{slow_port}"
    slow = start_sandbox(slow_port, latency_ms=args.latency_ms) if args.latency_ms else None
    # The CLI's choice of Prefect server: configured, the local one, or a quiet temporary one
    # (Prefect's own prints shutdown tracebacks).
    server = contextlib.ExitStack()
    try:
        from cli.local_server import prefect_api

        api_url = server.enter_context(prefect_api())
        started = time.perf_counter()
        floor_users = seed_users(endpoint, "bench-floor", n)
        threaded_users = seed_users(endpoint, "bench-threads", n)
        engine_users = seed_users(endpoint, "bench-engine", n)
        cli_users = {
            kind: seed_users(endpoint, f"bench-cli-{kind}", count) if count else []
            for kind, count in (
                ("aws", args.cli_users),
                ("run", args.cli_users),
                ("batch", args.cli_batch_users),
                ("bare", 1 if args.no_server_run else 0),
            )
        }
        slow_users: dict[str, list[str]] = {}
        if slow is not None:
            # Calls wait side by side, so more threads seed faster at a latency.
            for kind, count in (
                ("floor", args.latency_users),
                ("engine", args.latency_users),
                ("limited", args.limited_users),
            ):
                slow_users[kind] = seed_users(slow_endpoint, f"bench-slow-{kind}", count, 16)
        seeded = 3 * n + sum(map(len, (*cli_users.values(), *slow_users.values())))
        print(f"seeded {seeded} users in {time.perf_counter() - started:.0f} s")

        floor_iam, floor_calls = counting_client(endpoint)
        cpu_before = cpu_seconds()
        floor_wall, _ = timed(lambda: [floor_offboard(floor_iam, name) for name in floor_users])
        floor_cpu = cpu_seconds() - cpu_before

        threads_iam, _ = counting_client(endpoint)
        with ThreadPoolExecutor(8) as pool:
            threads_wall, _ = timed(
                lambda: list(
                    pool.map(lambda name: floor_offboard(threads_iam, name), threaded_users)
                )
            )

        from config.settings import get_settings
        from flows.batch_models import BatchSelection, BatchTarget
        from flows.offboard_batch import run_batch
        from tasks.aws import ClientFactory, set_client_factory

        probe = EngineProbe()
        engine_calls = probe.calls
        factory = ClientFactory()
        probe.install(factory.session)
        set_client_factory(factory)

        def selection(names: list[str]) -> BatchSelection:
            return BatchSelection(users=tuple(BatchTarget(user_name=name) for name in names))

        # Prefect's server (entered above) is warm before the measurement.
        admin, _ = counting_client(endpoint)
        admin.create_user(UserName="bench-warmup")
        run_batch(selection(["bench-warmup"]))

        # Before the big run, so that the temporary server's backlog of its events (SQLite)
        # does not slow the engine's calls to that server here.
        slow_result = None
        if slow is not None:
            slow_result = run_latency_case(
                latency_ms=args.latency_ms,
                endpoint=slow_endpoint,
                floor_users=slow_users["floor"],
                engine_users=slow_users["engine"],
                limited_users=slow_users["limited"],
                floor_offboard=floor_offboard,
                counting_client=counting_client,
            )

        # Commands in new processes, before the big run: a SQLite server still recording the
        # 200-user batch's events answered a CLI run's calls seconds late (one run of three
        # took 11 s instead of 4.5).
        cli = run_cli_case(
            {**os.environ, **sandbox_env},
            api_url,
            aws_users=cli_users["aws"],
            run_users=cli_users["run"],
            batch_users=cli_users["batch"],
            no_server_user=(cli_users["bare"] or [None])[0],
        )

        # Everything default but the rate.
        os.environ["OFFBOARD_IAM_CALLS_PER_SECOND"] = "0"
        get_settings.cache_clear()
        probe.clear()
        with profiling(args.py_spy):
            cpu_before = cpu_seconds()
            engine_wall, report = timed(
                lambda: run_batch(selection(engine_users), allow_large_batch=n)
            )
            engine_cpu = cpu_seconds() - cpu_before
        failures = [u.report.failure for u in report.users if u.report.outcome != "deleted"]
        assert not failures, failures[:3]
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        floor_per_user = sum(floor_calls.values()) / n
        reports = [u.report for u in report.users]
        deletion = sum(r.deletion_api_calls for r in reports) / n
        review = sum(r.review.api_calls for r in reports if r.review) / n
        snapshot = sum(r.snapshot.api_calls for r in reports if r.snapshot) / n
        total_calls = sum(engine_calls.values()) / n
        scan_calls = sum(report.reference_scan_calls.values())
        other = total_calls - deletion - review - snapshot - scan_calls / n
        other_names = Counter(
            {
                name: count
                for name, count in engine_calls.items()
                if name in {"GetUser", "GetCallerIdentity"}
            }
        )

        print(f"\nusers: {n} per run, each with every attachment kind; {os.cpu_count()} CPUs")
        print(f"{'run':44}{'wall s':>9}{'users/s':>9}{'vs floor':>10}")
        rows = [
            ("raw boto3, sequential (floor)", floor_wall, n),
            ("raw boto3, 8 threads", threads_wall, n),
            ("engine batch, default settings, rate off", engine_wall, n),
        ]
        for label, wall, users in rows:
            print(f"{label:44}{wall:>9.2f}{users / wall:>9.1f}{wall / floor_wall:>10.2f}")
        print(f"\n{'API calls per user':44}{'floor':>9}{'engine':>9}{'ratio':>10}")
        print(
            f"{'deletion (lists + deletes)':44}{floor_per_user:>9.1f}{deletion:>9.1f}"
            f"{deletion / floor_per_user:>10.3f}"
        )
        print(f"{'review (last accessed, key last used)':44}{'-':>9}{review:>9.1f}")
        print(f"{'snapshot (policy documents, SSH keys)':44}{'-':>9}{snapshot:>9.1f}")
        scanned = ", ".join(f"{op} {count}" for op, count in report.reference_scan_calls.items())
        print(f"{'reference scan (once per batch)':44}{'-':>9}{scan_calls / n:>9.1f}")
        print(f"  {scan_calls} calls for the batch: {scanned}")
        detail = ", ".join(f"{name} {count / n:.1f}" for name, count in other_names.items())
        print(f"{'other (' + detail + ')':44}{'-':>9}{other:>9.1f}")
        # Made fewer times than there are users: the account's scans (references), not per user.
        scans = {name: count for name, count in engine_calls.items() if count < n / 2}
        listed = ", ".join(f"{name} {count}" for name, count in sorted(scans.items()))
        print(f"scans once per account, calls in all: {sum(scans.values())} ({listed})")
        print(f"\nengine CPU seconds: {engine_cpu:.2f} ({engine_cpu / n * 1000:.0f} ms/user)")
        print(f"engine process peak RSS: {peak_mb:.0f} MB")

        if slow_result is not None:
            print_latency_case(slow_result)
        print_cli_case(cli, floor_wall / n)

        print(f"\nthe issue's ratios, measured in this run ({os.cpu_count()} CPUs)")
        print(f"  engine batch vs sequential floor ({n} users): {engine_wall / floor_wall:.2f}")
        print(
            f"  engine CPU per user: {engine_cpu / n * 1000:.0f} ms"
            f" (the floor's raw loop: {floor_cpu / n * 1000:.0f} ms)"
        )
        if slow_result is not None:
            ratio = slow_result.engine_wall / slow_result.floor_wall
            rate = slow_result.rate
            print(
                f"  at {slow_result.latency_ms:g} ms latency, engine vs sequential floor:"
                f" {ratio:.2f} ({1 / ratio:.1f}x faster)"
            )
            print(
                f"  default rate held: {rate.mean / slow_result.limit:.1%} of"
                f" {slow_result.limit:g} calls/s (busiest 5 s: {rate.peak / slow_result.limit:.1%})"
            )
        aws = cli.aws_wall_per_user
        if cli.batch_users:
            ratio = cli.batch_wall / (floor_wall / n * cli.batch_users)
            print(
                f"  offboard batch ({cli.batch_users} users, CLI) vs sequential floor: {ratio:.2f}"
            )
        if cli.run_walls and aws:
            run = sum(cli.run_walls) / len(cli.run_walls)
            print(f"  offboard run USER --yes vs the aws CLI procedure: {run / aws:.2f}")
        if cli.no_server_wall and aws:
            print(
                "  offboard run, no server configured, vs the aws CLI procedure:"
                f" {cli.no_server_wall / aws:.2f}"
            )
        print(f"  offboard --help: {min(cli.help_walls):.2f} s")
    finally:
        server.close()
        for sandbox_process in (proc, slow):
            if sandbox_process is not None:
                sandbox_process.terminate()
                sandbox_process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
