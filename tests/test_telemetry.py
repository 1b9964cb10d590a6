"""The CLI sends no usage data and shows no telemetry notice, also in a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from prefect._internal.analytics.ci_detection import CI_ENV_VARS

OFFBOARD = str(Path(sys.executable).parent / "offboard")


def test_no_telemetry_notice_in_a_terminal_on_a_fresh_prefect_home(tmp_path):
    """Prefect shows its notice once per home, in a terminal, outside CI: a fresh home and a
    pseudo-terminal are exactly where it would appear."""
    env = {k: v for k, v in os.environ.items() if k not in CI_ENV_VARS}
    env.pop("DO_NOT_TRACK", None)
    env.pop("PREFECT_SERVER_ANALYTICS_ENABLED", None)
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    env["OFFBOARD_HOME"] = str(tmp_path / "home")
    code = "import cli.launch, sys; sys.argv = ['offboard', 'policy']; cli.launch.main()"
    main, other = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            stdin=other,
            stdout=other,
            stderr=other,
            env=env,
            timeout=120,
        )
        os.close(other)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(main)
    output = b"".join(chunks).decode(errors="replace")
    assert done.returncode == 0, output
    assert '"Version": "2012-10-17"' in output  # the command ran, in the terminal
    assert "anonymous usage data" not in output
