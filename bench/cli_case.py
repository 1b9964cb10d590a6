"""The commands as an operator runs them, each a new process: the seed's AWS CLI procedure
(``aws iam ...`` per command), ``offboard run USER --yes`` and ``offboard batch`` against a
running Prefect server, ``offboard run`` with no server configured, and ``offboard --help``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OFFBOARD = str(Path(sys.executable).with_name("offboard"))


def aws_command() -> str | None:
    """``aws`` on PATH, else beside this Python (``pip install awscli`` into the venv)."""
    beside = Path(sys.executable).with_name("aws")
    return shutil.which("aws") or (str(beside) if beside.exists() else None)


def aws_cli_offboard(aws_path: str, env: dict[str, str], user: str) -> int:
    """The seed's procedure as `aws iam` commands, listing before each delete. Returns calls."""
    calls = 0

    def aws(*args: str, check: bool = True) -> Any:
        nonlocal calls
        calls += 1
        done = subprocess.run(
            [aws_path, "iam", *args, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"aws iam {' '.join(args)}: {done.stderr.strip()}")
        return json.loads(done.stdout) if done.stdout.strip() else {}

    u = ("--user-name", user)
    aws("delete-login-profile", *u, check=False)
    for key in aws("list-access-keys", *u)["AccessKeyMetadata"]:
        aws("delete-access-key", *u, "--access-key-id", key["AccessKeyId"])
    for cert in aws("list-signing-certificates", *u)["Certificates"]:
        aws("delete-signing-certificate", *u, "--certificate-id", cert["CertificateId"])
    for key in aws("list-ssh-public-keys", *u)["SSHPublicKeys"]:
        aws("delete-ssh-public-key", *u, "--ssh-public-key-id", key["SSHPublicKeyId"])
    for cred in aws("list-service-specific-credentials", *u)["ServiceSpecificCredentials"]:
        credential = ("--service-specific-credential-id", cred["ServiceSpecificCredentialId"])
        aws("delete-service-specific-credential", *u, *credential)
    for device in aws("list-mfa-devices", *u)["MFADevices"]:
        serial = device["SerialNumber"]
        aws("deactivate-mfa-device", *u, "--serial-number", serial)
        aws("delete-virtual-mfa-device", "--serial-number", serial)
    for name in aws("list-user-policies", *u)["PolicyNames"]:
        aws("delete-user-policy", *u, "--policy-name", name)
    for policy in aws("list-attached-user-policies", *u)["AttachedPolicies"]:
        aws("detach-user-policy", *u, "--policy-arn", policy["PolicyArn"])
    for group in aws("list-groups-for-user", *u)["Groups"]:
        aws("remove-user-from-group", *u, "--group-name", group["GroupName"])
    aws("delete-user", *u)
    return calls


def _timed_command(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])}: exit {done.returncode}: {done.stderr[-800:]}")
    return wall


@dataclass(frozen=True)
class CliResult:
    aws_users: int
    aws_wall_per_user: float  # 0: no aws command
    aws_calls_per_user: float
    run_walls: tuple[float, ...]  # offboard run USER --yes, running server
    batch_users: int
    batch_wall: float
    no_server_wall: float  # offboard run with no server configured (0: skipped)
    help_walls: tuple[float, ...]


def run_cli_case(
    env: dict[str, str],
    api_url: str,
    aws_users: list[str],
    run_users: list[str],
    batch_users: list[str],
    no_server_user: str | None,
) -> CliResult:
    """Each command in a new process; ``env`` points at the sandbox, ``api_url`` at the server."""
    served = {**env, "PREFECT_API_URL": api_url}
    aws_path = aws_command()
    aws_wall = aws_calls = 0.0
    if aws_path and aws_users:
        started = time.perf_counter()
        calls = [aws_cli_offboard(aws_path, env, user) for user in aws_users]
        aws_wall = (time.perf_counter() - started) / len(aws_users)
        aws_calls = sum(calls) / len(aws_users)
    runs = tuple(_timed_command([OFFBOARD, "run", user, "--yes"], served) for user in run_users)
    batch_wall = 0.0
    if batch_users:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
            listing.write("\n".join(batch_users) + "\n")
        unlimited = {**served, "OFFBOARD_IAM_CALLS_PER_SECOND": "0"}
        command = [OFFBOARD, "batch", "--users-file", listing.name, "--yes"]
        command += ["--allow-large-batch", str(len(batch_users))]
        batch_wall = _timed_command(command, unlimited)
        os.unlink(listing.name)
    no_server = 0.0
    if no_server_user:
        # No PREFECT_API_URL and a home without `offboard server start`'s server.
        bare = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
        bare["OFFBOARD_HOME"] = tempfile.mkdtemp(prefix="bench-no-server-")
        no_server = _timed_command([OFFBOARD, "run", no_server_user, "--yes"], bare)
    helps = tuple(_timed_command([OFFBOARD, "--help"], env) for _ in range(3))
    return CliResult(
        aws_users=len(aws_users) if aws_path else 0,
        aws_wall_per_user=aws_wall,
        aws_calls_per_user=aws_calls,
        run_walls=runs,
        batch_users=len(batch_users),
        batch_wall=batch_wall,
        no_server_wall=no_server,
        help_walls=helps,
    )


def print_cli_case(result: CliResult, floor_wall_per_user: float) -> None:
    print("\ncommands, each a new process")
    aws = result.aws_wall_per_user
    if result.aws_users:
        print(
            f"  aws CLI procedure: {aws:.2f} s per user ({result.aws_users} users,"
            f" {result.aws_calls_per_user:.0f} commands each)"
        )
    elif aws_command():
        print("  aws CLI procedure: skipped (--cli-users 0)")
    else:
        print("  aws CLI procedure: skipped (no `aws` command: pip install awscli)")
    if result.run_walls:
        run = sum(result.run_walls) / len(result.run_walls)
        walls = ", ".join(f"{w:.2f}" for w in result.run_walls)
        vs = f"; vs the aws CLI procedure: {run / aws:.2f}" if aws else ""
        print(f"  offboard run USER --yes, running server: {run:.2f} s ({walls}){vs}")
    if result.batch_users:
        floor = floor_wall_per_user * result.batch_users
        print(
            f"  offboard batch, {result.batch_users} users, running server, rate off:"
            f" {result.batch_wall:.2f} s; vs the sequential floor ({floor:.2f} s):"
            f" {result.batch_wall / floor:.2f}"
        )
    if result.no_server_wall:
        vs = f"; vs the aws CLI procedure: {result.no_server_wall / aws:.2f}" if aws else ""
        print(f"  offboard run, no server configured: {result.no_server_wall:.2f} s{vs}")
    helps = ", ".join(f"{w:.2f}" for w in result.help_walls)
    print(f"  offboard --help: {min(result.help_walls):.2f} s (runs: {helps})")
