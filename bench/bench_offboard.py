"""Engine vs. a raw boto3 floor, offboarding loaded users one by one on the same sandbox.

    python bench/bench_offboard.py --users 20

The sandbox runs in its own process. The floor makes the minimal calls of the seed's CLI
procedure; the engine runs the Prefect flow per user. Prints ratios measured in this one run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sandbox(port: int, latency_ms: float = 0) -> subprocess.Popen[bytes]:
    """``python -m sandbox`` in its own process; ``latency_ms`` delays every AWS call."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", str(port), "--latency-ms", str(latency_ms)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("sandbox did not start")


def counting_client(endpoint: str) -> tuple[Any, Counter[str]]:
    client = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call.iam", count)
    return client, calls


def floor_offboard(iam: Any, user: str) -> None:
    """The seed's procedure with the fewest calls: no inventory, no resolve."""
    try:
        iam.delete_login_profile(UserName=user)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchEntity":
            raise
    for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    for cert in iam.list_signing_certificates(UserName=user)["Certificates"]:
        iam.delete_signing_certificate(UserName=user, CertificateId=cert["CertificateId"])
    for key in iam.list_ssh_public_keys(UserName=user)["SSHPublicKeys"]:
        iam.delete_ssh_public_key(UserName=user, SSHPublicKeyId=key["SSHPublicKeyId"])
    for cred in iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]:
        iam.delete_service_specific_credential(
            UserName=user, ServiceSpecificCredentialId=cred["ServiceSpecificCredentialId"]
        )
    for device in iam.list_mfa_devices(UserName=user)["MFADevices"]:
        iam.deactivate_mfa_device(UserName=user, SerialNumber=device["SerialNumber"])
        if ":mfa/" in device["SerialNumber"]:
            iam.delete_virtual_mfa_device(SerialNumber=device["SerialNumber"])
    for name in iam.list_user_policies(UserName=user)["PolicyNames"]:
        iam.delete_user_policy(UserName=user, PolicyName=name)
    for policy in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]:
        iam.detach_user_policy(UserName=user, PolicyArn=policy["PolicyArn"])
    for group in iam.list_groups_for_user(UserName=user)["Groups"]:
        iam.remove_user_from_group(UserName=user, GroupName=group["GroupName"])
    iam.delete_user(UserName=user)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ENDPOINT_URL_IAM": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "OFFBOARD_LOG_LEVEL": "WARNING",
            "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
        }
    )
    proc = start_sandbox(port)
    # The CLI's choice of Prefect server: configured, the local one, or a quiet temporary one
    # (Prefect's own prints shutdown tracebacks).
    server = contextlib.ExitStack()
    try:
        from cli.local_server import prefect_api

        server.enter_context(prefect_api())
        from sandbox.fixtures import create_loaded_user

        admin, _ = counting_client(endpoint)
        floor_users = [f"bench-floor-{i:04d}" for i in range(args.users)]
        engine_users = [f"bench-engine-{i:04d}" for i in range(args.users)]
        for name in floor_users + engine_users:
            create_loaded_user(admin, name)

        floor_iam, floor_calls = counting_client(endpoint)
        started = time.perf_counter()
        for name in floor_users:
            floor_offboard(floor_iam, name)
        floor_wall = time.perf_counter() - started

        from config.prefect_runtime import apply_prefect_defaults
        from flows.offboard_user import run_offboarding

        apply_prefect_defaults()
        # Warm up Prefect outside the measurement.
        warm = "bench-warmup"
        admin.create_user(UserName=warm)
        run_offboarding(user_name=warm)

        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        reports = [run_offboarding(user_name=name) for name in engine_users]
        engine_wall = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        assert all(r.outcome == "deleted" for r in reports), [r.failure for r in reports]

        n = args.users
        floor_per_user = sum(floor_calls.values()) / n
        engine_deletion = sum(r.deletion_api_calls for r in reports) / n
        engine_resolve = sum(r.resolve_api_calls for r in reports) / n
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
            cpu_after.ru_stime - cpu_before.ru_stime
        )
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"users: {n} (each with every attachment kind)")
        print(f"{'':34}{'floor':>10}{'engine':>10}{'ratio':>8}")
        wall_ratio = engine_wall / floor_wall
        print(f"{'wall seconds':34}{floor_wall:>10.2f}{engine_wall:>10.2f}{wall_ratio:>8.2f}")
        print(
            f"{'deletion calls/user (list+delete)':34}{floor_per_user:>10.1f}"
            f"{engine_deletion:>10.1f}{engine_deletion / floor_per_user:>8.3f}"
        )
        print(f"{'resolve calls/user (GetUser)':34}{0:>10}{engine_resolve:>10.1f}")
        print(f"engine CPU seconds: {cpu:.2f} ({cpu / n * 1000:.0f} ms/user)")
        print(f"engine process peak RSS: {peak_mb:.0f} MB")
    finally:
        server.close()
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
