"""The sandbox's per-call latency option (``offboard sandbox --latency-ms``), over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from cli.main import app
from sandbox.latency import latency_ms
from sandbox.server import Sandbox, main


@pytest.fixture
def slow_sandbox(sandbox: Sandbox, sandbox_latency: Callable[[float], None]) -> Sandbox:
    sandbox_latency(80)
    return sandbox


def test_every_aws_call_waits_at_least_the_latency(slow_sandbox, iam, user_name):
    """A lower bound on a sleep, not a timing of the engine: each call took >= 80 ms."""
    iam.create_user(UserName=user_name)
    for call in (
        lambda: iam.get_user(UserName=user_name),
        lambda: iam.list_access_keys(UserName=user_name),
    ):
        started = time.perf_counter()
        call()
        assert time.perf_counter() - started >= 0.08


def test_latency_is_answered_as_usual_and_off_again_after_the_sandbox_stops():
    with Sandbox(port=0, latency_ms=25) as box:
        assert latency_ms() == 25
        started = time.perf_counter()
        found = box.client("sts").get_caller_identity()
        assert time.perf_counter() - started >= 0.025
        assert found["Account"]
    assert latency_ms() == 0


@pytest.mark.parametrize("argv", [["--latency-ms", "-1"], ["--latency-ms", "soon"]])
def test_a_bad_latency_is_one_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert "--latency-ms" in capsys.readouterr().err


def test_the_cli_refuses_a_negative_latency_with_exit_2():
    result = CliRunner().invoke(app, ["sandbox", "--latency-ms", "-5"])
    assert result.exit_code == 2
    assert "latency" in result.output.lower()


def test_a_negative_latency_is_refused_before_anything_listens():
    with pytest.raises(ValueError, match="latency"):
        Sandbox(latency_ms=-1)
