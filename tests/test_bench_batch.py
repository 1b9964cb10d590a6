"""README's benchmark command runs as written, at a small size, and prints what the README's
performance table reports: engine CPU per user and every ratio of the issue's table. Nothing
is timed or compared here; the numbers are the benchmark's to print."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_faults_and_crash import prefect_api_env

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_bench_batch_prints_cpu_per_user_and_the_ratios(tmp_path):
    env = {**os.environ, **prefect_api_env(), "OFFBOARD_HOME": str(tmp_path / "home")}
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS"):
        env.pop(name, None)  # the benchmark starts sandboxes of its own
    done = subprocess.run(
        [
            sys.executable,
            "bench/bench_batch.py",
            "--users",
            "2",
            "--latency-ms",
            "5",
            "--latency-users",
            "1",
            "--limited-users",
            "1",
            "--cli-users",
            "1",
            "--cli-batch-users",
            "1",
            "--no-no-server-run",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "Traceback" not in done.stderr
    ratios = out[out.index("the issue's ratios") :]
    for line in (
        "engine batch vs sequential floor (2 users):",
        "engine CPU per user:",
        "at 5 ms latency, engine vs sequential floor:",
        "default rate held:",
        "offboard batch (1 users, CLI) vs sequential floor:",
        "offboard --help:",
    ):
        assert line in ratios, (line, ratios)
    # Its ratio to the aws CLI procedure is printed when `aws` is installed (pip install awscli).
    assert "offboard run USER --yes, running server:" in out
    assert "reference scan (once per batch)" in out
