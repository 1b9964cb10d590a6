"""The CLI's Prefect server: `offboard server start|stop|status`, the one-line notice and the quiet
temporary server when none runs, and no server left behind by a killed CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from cli.local_server import FALLBACK_NOTICE, free_port
from deploy.local_stack import BIN, PROJECT
from sandbox.fixtures import create_loaded_user


def cli_env(sandbox, home: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_API_URL", "OFFBOARD_"))
    }
    env.update(sandbox.env())
    env.update(
        {
            "OFFBOARD_HOME": str(home),
            "PREFECT_HOME": str(home / "prefect-client"),
            "OFFBOARD_RETRY_BACKOFF_SECONDS": "0.02",
        }
    )
    return env


def offboard(env: dict[str, str], *args: str, timeout: float = 240):
    return subprocess.run(
        [str(BIN / "offboard"), *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in found.stdout.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) is not running.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_without_a_server_run_says_so_in_one_line_and_shows_no_server_traceback(
    sandbox, iam, user_name, tmp_path
):
    create_loaded_user(iam, user_name)
    result = offboard(cli_env(sandbox, tmp_path), "run", user_name, "--yes")
    assert result.returncode == 0, result.stderr
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user_name)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines.count(FALLBACK_NOTICE) == 1
    assert "offboard server start" in FALLBACK_NOTICE
    assert "Traceback" not in result.stderr and "Error flushing" not in result.stderr
    assert "Traceback" not in result.stdout


def test_without_a_server_deactivate_and_reactivate_say_so_in_one_line(
    sandbox, iam, user_name, tmp_path
):
    """Every command that runs a flow tells why it is slow, not only run and batch."""
    create_loaded_user(iam, user_name)
    env = cli_env(sandbox, tmp_path)
    for command, denied in (("deactivate", True), ("reactivate", False)):
        result = offboard(env, command, user_name)
        assert result.returncode == 0, result.stderr
        assert result.stderr.count(FALLBACK_NOTICE) == 1, result.stderr
        assert "Traceback" not in result.stderr and "Error flushing" not in result.stderr
        policies = iam.list_user_policies(UserName=user_name)["PolicyNames"]
        assert ("offboard-deactivated" in policies) is denied


def test_without_a_server_batch_says_so_in_one_line_and_exits_quietly(
    sandbox, iam, user_name, tmp_path
):
    names = [f"{user_name}-{i}" for i in range(3)]
    for name in names:
        create_loaded_user(iam, name)
    users = tmp_path / "users.txt"
    users.write_text("\n".join(names) + "\n")
    result = offboard(cli_env(sandbox, tmp_path), "batch", "--users-file", str(users), "--yes")
    assert result.returncode == 0, result.stderr
    for name in names:
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_user(UserName=name)
    assert result.stderr.count(FALLBACK_NOTICE) == 1
    assert "Traceback" not in result.stderr and "Error flushing" not in result.stderr


def test_server_start_status_stop_keep_one_server_that_run_reports_to(
    sandbox, iam, user_name, tmp_path
):
    env = cli_env(sandbox, tmp_path)
    port = free_port()
    try:
        started = offboard(env, "server", "start", "--port", str(port))
        assert started.returncode == 0, started.stderr
        assert f"http://127.0.0.1:{port}" in started.stdout
        assert (tmp_path / "prefect-server" / "prefect.db").exists()
        status = offboard(env, "server", "status", "--json")
        assert status.returncode == 0, status.stderr
        state = json.loads(status.stdout)
        assert state["up"] is True and state["api_url"] == f"http://127.0.0.1:{port}/api"

        create_loaded_user(iam, user_name)
        result = offboard(env, "run", user_name, "--yes", "--json")
        assert result.returncode == 0, result.stderr
        assert FALLBACK_NOTICE not in result.stderr
        run_id = json.loads(result.stdout)["run_id"]
        with urllib.request.urlopen(f"{state['api_url']}/flow_runs/{run_id}", timeout=30) as r:
            assert json.loads(r.read())["state"]["type"] == "COMPLETED"
    finally:
        stopped = offboard(env, "server", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not alive(state["pid"])
    after = offboard(env, "server", "status")
    assert after.returncode == 1 and "not running" in after.stdout


def test_a_killed_cli_leaves_no_temporary_server_behind(sandbox, iam, user_name, tmp_path):
    create_loaded_user(iam, user_name)
    cli = subprocess.Popen(
        [str(BIN / "offboard"), "run", user_name, "--yes"],
        cwd=PROJECT,
        env=cli_env(sandbox, tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        server: list[int] = []
        while not server and time.monotonic() < deadline and cli.poll() is None:
            server = children(cli.pid)
            time.sleep(0.2)
        assert server, "the temporary server never started"
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait(timeout=10)
        deadline = time.monotonic() + 30
        while alive(server[0]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(server[0]), "the temporary server outlived the killed CLI"
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()


def test_runs_and_rerun_without_any_server_say_how_to_get_one(sandbox, tmp_path):
    """No PREFECT_API_URL and no local server: one line naming both ways, exit 2, and no
    temporary server is started for a command that only reads a server's history."""
    env = cli_env(sandbox, tmp_path)
    for args in (["runs"], ["rerun", "4f2a4e50-81d0-4c55-9d0e-0b6f3e1c2d7a"]):
        result = offboard(env, *args)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "offboard server start" in lines[0], lines
        assert "PREFECT_API_URL" in lines[0]
    assert not (tmp_path / "prefect-server" / "temporary-server.log").exists()
    guard = offboard(
        env, "rerun", "4f2a4e50-81d0-4c55-9d0e-0b6f3e1c2d7a", "--override-activity-guard"
    )
    assert guard.returncode == 2 and "--reason" in guard.stderr
