"""The audit trail: hash chain, tamper detection, concurrent writers and the ``audit`` CLI."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import threading
from collections import Counter
from datetime import timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from audit import (
    AuditEvent,
    AuditRecord,
    AuditTarget,
    AuditTrail,
    AuditTrailError,
    default_trail,
    read_records,
    verify,
)
from audit.records import GENESIS_HASH
from cli.audit_cli import audit_app
from config.settings import get_settings

PER_WRITER = 25
WRITERS = 8


def make_event(writer: str = "w", i: int = 0, **changes: object) -> AuditEvent:
    fields: dict[str, object] = {
        "run_id": f"run-{writer}",
        "flow": "offboard-user",
        "step": "access_keys",
        "actor": "arn:aws:iam::123456789012:user/admin",
        "target": AuditTarget(
            account="123456789012",
            user_name=f"user-{writer}",
            user_arn=f"arn:aws:iam::123456789012:user/user-{writer}",
            user_id="AIDAEXAMPLE0000000001",
        ),
        "action": "iam:DeleteAccessKey",
        "resources": (f"{writer}:{i}",),
        "outcome": "done",
        "message": f"{writer}:{i}",
    }
    fields.update(changes)
    return AuditEvent.model_validate(fields)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """A log of five records in a directory that does not exist yet."""
    path = tmp_path / "var" / "audit.jsonl"
    trail = AuditTrail(path)
    for i in range(5):
        trail.append(make_event(i=i))
    return path


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def edit_line(path: Path, number: int, **changes: object) -> None:
    lines = lines_of(path)
    data = json.loads(lines[number - 1])
    data.update(changes)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    lines[number - 1] = canonical.encode() + b"\n"
    write_lines(path, lines)


def test_fresh_chain_verifies_with_sequential_seq_and_head_hash_of_last_line(log: Path) -> None:
    report = verify(log)
    last = lines_of(log)[-1].rstrip(b"\n")

    assert report.ok
    assert report.records == 5
    assert report.head_hash == hashlib.sha256(last).hexdigest()
    assert report.first_bad_line is None
    assert report.problem is None
    records = list(read_records(log))
    assert [record.seq for record in records] == [1, 2, 3, 4, 5]
    assert records[0].prev_hash == GENESIS_HASH
    assert records[0].time.utcoffset() == timedelta(0)


def test_each_line_links_to_the_sha256_of_the_previous_line(log: Path) -> None:
    lines = [line.rstrip(b"\n") for line in lines_of(log)]
    records = list(read_records(log))

    for previous, record in zip(lines, records[1:], strict=False):
        assert record.prev_hash == hashlib.sha256(previous).hexdigest()


def test_lines_are_canonical_json_with_sorted_keys(log: Path) -> None:
    line = lines_of(log)[0].rstrip(b"\n")
    data = json.loads(line)

    assert line == json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    assert set(data) == set(AuditRecord.model_fields)


def test_append_returns_the_record_as_written(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "audit.jsonl")

    record = trail.append(make_event(i=7, outcome="failed", error_code="Throttling"))

    assert record == next(read_records(trail.path))
    assert record.seq == 1
    assert record.hash == record.compute_hash()
    assert trail.path.read_bytes() == record.to_line() + b"\n"


def test_empty_file_verifies_with_zero_records(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.touch()

    report = verify(path)

    assert report.ok
    assert report.records == 0
    assert report.head_hash is None


def test_editing_a_field_of_a_middle_line_fails_at_that_line(log: Path) -> None:
    edit_line(log, 3, outcome="skipped")

    report = verify(log)

    assert not report.ok
    assert report.first_bad_line == 3
    assert report.records == 2
    assert "hash" in (report.problem or "")


def test_editing_a_middle_line_and_its_hash_fails_at_that_line(log: Path) -> None:
    data = json.loads(lines_of(log)[2])
    data["outcome"] = "skipped"
    data["hash"] = AuditRecord.model_validate(data).compute_hash()
    edit_line(log, 3, **data)

    report = verify(log)

    assert not report.ok
    assert report.first_bad_line == 3
    assert "prev_hash in line 4" in (report.problem or "")


def test_editing_the_last_line_fails_at_that_line(log: Path) -> None:
    edit_line(log, 5, resources=[])

    report = verify(log)

    assert not report.ok
    assert report.first_bad_line == 5
    assert report.records == 4


def test_reformatting_the_last_line_fails_at_that_line(log: Path) -> None:
    lines = lines_of(log)
    lines[-1] = json.dumps(json.loads(lines[-1]), sort_keys=True).encode() + b"\n"
    write_lines(log, lines)

    report = verify(log)

    assert not report.ok
    assert report.first_bad_line == 5
    assert "canonical" in (report.problem or "")


def test_deleting_a_middle_line_fails(log: Path) -> None:
    lines = lines_of(log)
    del lines[2]
    write_lines(log, lines)

    report = verify(log)

    assert not report.ok
    assert report.first_bad_line == 3
    assert "seq" in (report.problem or "")


def test_deleting_the_first_line_fails(log: Path) -> None:
    write_lines(log, lines_of(log)[1:])

    assert verify(log).first_bad_line == 1


def test_swapping_two_lines_fails(log: Path) -> None:
    lines = lines_of(log)
    lines[1], lines[2] = lines[2], lines[1]
    write_lines(log, lines)

    report = verify(log)

    assert not report.ok
    assert report.first_bad_line == 2


def test_a_garbage_line_fails_at_that_line(log: Path) -> None:
    lines = lines_of(log)
    lines.insert(2, b"not json at all\n")
    write_lines(log, lines)

    report = verify(log)

    assert not report.ok
    assert report.first_bad_line == 3
    assert report.problem == "not valid JSON"


def test_a_json_line_that_is_not_a_record_fails_at_that_line(log: Path) -> None:
    edit_line(log, 2, seq="two")

    report = verify(log)

    assert report.first_bad_line == 2
    assert (report.problem or "").startswith("not an audit record: seq")


def test_a_truncated_last_line_fails_and_blocks_appends(log: Path) -> None:
    log.write_bytes(log.read_bytes()[:-10])

    report = verify(log)

    assert report.first_bad_line == 5
    assert "incomplete" in (report.problem or "")
    with pytest.raises(AuditTrailError):
        AuditTrail(log).append(make_event())


def test_missing_file_problem_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.jsonl"

    report = verify(path)

    assert not report.ok
    assert report.records == 0
    assert report.first_bad_line is None
    assert report.problem == f"no audit log at {path}"


def test_default_trail_uses_the_audit_log_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFBOARD_AUDIT_LOG", str(tmp_path / "from-env.jsonl"))
    get_settings.cache_clear()
    try:
        assert default_trail().path == tmp_path / "from-env.jsonl"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_event_rejects_unknown_fields_and_outcomes() -> None:
    with pytest.raises(ValueError):
        make_event(outcome="deleted")
    with pytest.raises(ValueError):
        make_event(secret="x")


def append_records(path: str, writer: str, count: int, barrier: Barrier | None) -> None:
    if barrier is not None:
        barrier.wait(timeout=30)
    trail = AuditTrail(path)
    for i in range(count):
        trail.append(make_event(writer, i))


def test_concurrent_processes_and_threads_each_record_written_exactly_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WRITERS + 1)
    processes = [
        context.Process(target=append_records, args=(str(path), f"p{n}", PER_WRITER, barrier))
        for n in range(WRITERS)
    ]
    for process in processes:
        process.start()
    # Threads start once every process is ready, so both kinds of writer overlap.
    barrier.wait(timeout=30)
    threads = [
        threading.Thread(target=append_records, args=(str(path), f"t{n}", PER_WRITER, None))
        for n in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0

    written = Counter(resource for record in read_records(path) for resource in record.resources)
    expected = {
        f"{kind}{n}:{i}" for kind in "pt" for n in range(WRITERS) for i in range(PER_WRITER)
    }
    assert set(written) == expected
    assert set(written.values()) == {1}
    report = verify(path)
    assert report.ok, report.problem
    assert report.records == 2 * WRITERS * PER_WRITER


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def app() -> typer.Typer:
    """The audit commands mounted as the main CLI mounts them."""
    main = typer.Typer()
    main.add_typer(audit_app, name="audit")
    return main


def test_cli_verify_prints_the_head_hash_and_exits_0(
    runner: CliRunner, app: typer.Typer, log: Path
) -> None:
    result = runner.invoke(app, ["audit", "verify", str(log)])

    assert result.exit_code == 0, result.output
    head = hashlib.sha256(lines_of(log)[-1].rstrip(b"\n")).hexdigest()
    assert result.stdout.strip() == f"audit chain intact: 5 records, head {head}"


def test_cli_verify_reads_the_setting_without_a_file_argument(
    runner: CliRunner, log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFBOARD_AUDIT_LOG", str(log))
    get_settings.cache_clear()
    try:
        result = runner.invoke(audit_app, ["verify"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()

    assert result.exit_code == 0, result.output
    assert "5 records" in result.stdout


def test_cli_verify_on_tampered_log_exits_1_with_one_stderr_line(
    runner: CliRunner, app: typer.Typer, log: Path
) -> None:
    edit_line(log, 2, action="iam:Nothing")

    result = runner.invoke(app, ["audit", "verify", str(log)])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("offboard: error: audit chain broken at line 2: ")
    assert len(result.stderr.splitlines()) == 1


def test_cli_verify_on_missing_log_exits_2_with_one_stderr_line(
    runner: CliRunner, app: typer.Typer, tmp_path: Path
) -> None:
    path = tmp_path / "missing.jsonl"

    result = runner.invoke(app, ["audit", "verify", str(path)])

    assert result.exit_code == 2
    assert result.stderr == f"offboard: error: no audit log at {path}\n"


def test_cli_verify_json_prints_the_chain_report(
    runner: CliRunner, app: typer.Typer, log: Path
) -> None:
    edit_line(log, 4, step="review")

    result = runner.invoke(app, ["audit", "verify", "--json", str(log)])

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["first_bad_line"] == 4
    assert report["records"] == 3


def test_cli_show_json_lists_records_filtered_by_run_and_user(
    runner: CliRunner, app: typer.Typer, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    trail = AuditTrail(path)
    for writer in ("a", "b", "a"):
        trail.append(make_event(writer))

    everything = runner.invoke(app, ["audit", "show", "--json", str(path)])
    by_run = runner.invoke(app, ["audit", "show", "--json", "--run", "run-a", str(path)])
    by_user = runner.invoke(app, ["audit", "show", "--json", "--user", "user-b", str(path)])

    assert everything.exit_code == 0, everything.output
    assert [record["seq"] for record in json.loads(everything.stdout)] == [1, 2, 3]
    assert [record["seq"] for record in json.loads(by_run.stdout)] == [1, 3]
    assert [record["seq"] for record in json.loads(by_user.stdout)] == [2]
    assert json.loads(by_user.stdout)[0]["target"]["user_name"] == "user-b"


def test_cli_show_prints_a_table_of_records(
    runner: CliRunner, app: typer.Typer, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    AuditTrail(path).append(make_event(outcome="failed", error_code="[bold]Throttling"))

    result = runner.invoke(app, ["audit", "show", str(path)], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    assert "iam:DeleteAccessKey" in result.stdout
    assert "[bold]Throttling" in result.stdout


def test_cli_show_on_missing_log_exits_2(
    runner: CliRunner, app: typer.Typer, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["audit", "show", str(tmp_path / "missing.jsonl")])

    assert result.exit_code == 2
    assert result.stderr.startswith("offboard: error: no audit log at ")


def test_cli_show_on_garbage_line_exits_1(runner: CliRunner, app: typer.Typer, log: Path) -> None:
    write_lines(log, [*lines_of(log), b"garbage\n"])

    result = runner.invoke(app, ["audit", "show", str(log)])

    assert result.exit_code == 1
    assert "line 6" in result.stderr
