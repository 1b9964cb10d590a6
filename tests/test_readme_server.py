"""README's "Running on a Prefect server" works as written: its shell blocks, run in order in a
clone-like folder (the repository's tracked files and nothing beside them), offboard two demo
users, one in the CLI's process and one through a worker, both recorded in the audit trail."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from audit.trail import read_records
from cli.local_server import free_port
from deploy.local_stack import PROJECT

SECTION = "## Running on a Prefect server"


def server_section_blocks(readme: str) -> list[str]:
    """The ```sh blocks of the section, up to the next second-level heading."""
    start = readme.index(SECTION) + len(SECTION)
    following = re.search(r"^## ", readme[start:], flags=re.MULTILINE)
    section = readme[start : start + following.start()] if following else readme[start:]
    return re.findall(r"^```sh\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)


def clone_like(destination: Path) -> Path:
    """The tracked files of the working tree, plus a .venv that is this one (installed)."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        source = PROJECT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    # `make venv` finds the project installed: the same interpreter and packages as this suite.
    venv = destination / ".venv"
    venv.mkdir()
    for entry in (PROJECT / ".venv").iterdir():
        if not entry.name.startswith("."):
            (venv / entry.name).symlink_to(entry)
    (venv / ".installed-stamp").touch()
    return destination


def test_readme_server_blocks_offboard_demo_users_on_a_fresh_clone(tmp_path):
    blocks = server_section_blocks((PROJECT / "README.md").read_text())
    assert len(blocks) >= 3, "the section lost its shell blocks"
    clone = clone_like(tmp_path / "clone")
    home = tmp_path / "home"
    # The README's fixed ports, moved to free ones so that the test can run beside anything.
    ports = {"4200": str(free_port()), "5000": str(free_port())}
    script = "\n".join(blocks)
    for fixed, free in ports.items():
        script = script.replace(fixed, free)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "PREFECT_", "OFFBOARD_", "VIRTUAL_ENV"))
    }
    bin_dir = str(PROJECT / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != bin_dir)
    env.update(
        {
            "OFFBOARD_HOME": str(home),
            "PREFECT_HOME": str(tmp_path / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    shell = subprocess.Popen(
        ["bash", "-c", "set -eo pipefail\n" + script],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = shell.communicate(timeout=900)
    finally:
        if shell.poll() is None:
            shell.kill()
        with_venv = {**env, "PATH": bin_dir + os.pathsep + env["PATH"]}
        subprocess.run(
            ["offboard", "server", "stop"], cwd=clone, env=with_venv, capture_output=True
        )
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGKILL)
    assert shell.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in err
    deleted = {
        record.target.user_name
        for record in read_records(home / "audit.jsonl")
        if record.step == "user" and record.outcome == "done"
    }
    assert {"alice.departed", "carol.contractor"} <= deleted, (out, err)
    assert "alice.departed" in out and "carol.contractor" in out  # `offboard runs` lists both
