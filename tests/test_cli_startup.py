"""The CLI starts without loading the engine: help is read before any flow runs, so Prefect,
boto3 and the web server stay unimported until a command needs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("prefect", "boto3", "fastapi", "moto")

# Runs the real entry point, then names the heavy packages it left loaded.
WRAPPER = """
import sys
from cli.launch import main
sys.argv = ["offboard", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("loaded:", *sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["batch", "--help"], ["audit", "--help"]])
def test_help_imports_neither_prefect_nor_boto3_nor_fastapi(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert "Usage" in done.stdout, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "loaded:"


def test_a_run_against_a_server_never_imports_fastapi(sandbox, iam, user_name, cli_env) -> None:
    # FastAPI's import costs a fifth of a second of every `offboard run`; the CLI has no use
    # for it (the webhook command imports it itself).
    iam.create_user(UserName=user_name)
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER.format(heavy=HEAVY), "run", user_name, "--yes", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        env=cli_env,
    )

    assert json.loads(done.stdout)["outcome"] == "deleted", done.stderr
    loaded = done.stderr.strip().splitlines()[-1].split()[1:]
    assert "prefect" in loaded and "boto3" in loaded
    assert "fastapi" not in loaded
