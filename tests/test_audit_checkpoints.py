"""Signed checkpoints: a cut-off tail, a rewritten and re-chained history and a forged checkpoint
are reported by ``offboard audit verify``; an untouched log verifies; torn or foreign logs are
refused before the next append."""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
import stat
import threading
from pathlib import Path

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from audit import AuditEvent, AuditTarget, AuditTrail, AuditTrailError, read_records, verify
from audit.checkpoint import CheckpointSigner, checkpoint_path, sign_checkpoint
from audit.records import GENESIS_HASH, canonical_json, content_hash, sha256_hex
from audit.sealed import verify_sealed
from audit.signing import key_id, load_signing_key, parse_public_key, public_key_text
from cli.audit_cli import audit_app
from tests.helpers import engine_settings

RECORDS = 12


def event(user: str, i: int) -> AuditEvent:
    return AuditEvent(
        run_id=f"run-{user}",
        flow="offboard-user",
        step="access_keys",
        actor="arn:aws:iam::123456789012:user/admin",
        target=AuditTarget(
            account="123456789012", user_name=user, user_arn=None, user_id=f"AIDA{user.upper()}"
        ),
        action="iam:DeleteAccessKey",
        resources=(f"{user}:{i}",),
        outcome="done",
    )


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "signing.pem"


@pytest.fixture
def public_key(key_file: Path) -> str:
    return public_key_text(load_signing_key(key_file).public_key())


@pytest.fixture
def log(tmp_path: Path, key_file: Path) -> Path:
    """Twelve sealed records about three users, as the engine writes them."""
    trail = AuditTrail(tmp_path / "audit.jsonl", signer=CheckpointSigner(key_file))
    for i in range(RECORDS):
        trail.append(event(("alice", "bob", "carol")[i % 3], i))
    return trail.path


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rechain(records: list[dict[str, object]]) -> bytes:
    """What an attacker without the key does: renumber, relink and rehash every record."""
    out, prev = [], GENESIS_HASH
    for seq, data in enumerate(records, start=1):
        data = {**data, "seq": seq, "prev_hash": prev}
        data["hash"] = content_hash(data)
        line = canonical_json(data).encode("ascii")
        out.append(line + b"\n")
        prev = sha256_hex(line)
    return b"".join(out)


def invoke(*args: str) -> object:
    app = typer.Typer()
    app.add_typer(audit_app, name="audit")
    return CliRunner().invoke(app, ["audit", *args])


def test_every_record_is_sealed_by_a_signed_checkpoint_of_its_head(
    log: Path, key_file: Path
) -> None:
    key = load_signing_key(key_file).public_key()
    checkpoints = [json.loads(line) for line in lines_of(checkpoint_path(log))]
    heads = [hashlib.sha256(line.rstrip(b"\n")).hexdigest() for line in lines_of(log)]

    assert [c["seq"] for c in checkpoints] == list(range(1, RECORDS + 1))
    assert [c["head"] for c in checkpoints] == heads
    assert {c["key"] for c in checkpoints} == {key_id(key)}
    report = verify_sealed(log, key)
    assert report.ok and report.verdict == "intact"
    assert (report.records, report.sealed_seq, report.unsealed) == (RECORDS, RECORDS, 0)


def test_untouched_log_verifies_with_the_public_key_exit_0(log: Path, public_key: str) -> None:
    result = invoke("verify", str(log), "--public-key", public_key)

    assert result.exit_code == 0, result.output
    first, second = result.stdout.splitlines()
    assert first.startswith(f"audit chain intact: {RECORDS} records, head ")
    assert second.startswith(f"sealed up to record {RECORDS} at ")
    assert "signature verified" in second


@pytest.mark.parametrize("dropped", [1, 2, 3, 4, 5])
def test_dropping_the_last_lines_is_reported_as_a_cut_off_tail(
    log: Path, public_key: str, dropped: int
) -> None:
    log.write_bytes(b"".join(lines_of(log)[:-dropped]))
    assert verify(log).ok, "the hash chain alone cannot tell"

    for args in (["--public-key", public_key], []):
        result = invoke("verify", str(log), *args)
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1
        assert "cut-off tail" in result.stderr
        assert f"{dropped} missing from the end" in result.stderr


def test_a_rewritten_and_rechained_history_is_reported_as_a_forged_chain(
    log: Path, public_key: str
) -> None:
    """One user's records dropped and one outcome changed, then the chain recomputed."""
    records = [json.loads(line) for line in lines_of(log)]
    kept = [r for r in records if r["target"]["user_name"] != "bob"]
    kept[-1]["outcome"] = "failed"
    log.write_bytes(rechain(kept))
    assert verify(log).ok, "the hash chain alone cannot tell"

    result = invoke("verify", str(log), "--public-key", public_key)

    assert result.exit_code == 1, result.output
    assert "forged chain: record 2 does not match its signed checkpoint" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_checkpoints_forged_with_another_key_are_reported(log: Path, public_key: str) -> None:
    records = [json.loads(line) for line in lines_of(log)]
    forged_log = rechain([r for r in records if r["target"]["user_name"] != "bob"])
    log.write_bytes(forged_log)
    other = Ed25519PrivateKey.generate()
    forged = [
        sign_checkpoint(other, seq, sha256_hex(line.rstrip(b"\n"))).to_line() + b"\n"
        for seq, line in enumerate(forged_log.splitlines(keepends=True), start=1)
    ]
    checkpoint_path(log).write_bytes(b"".join(forged))

    with_key = invoke("verify", str(log), "--public-key", public_key)
    without_key = invoke("verify", str(log))

    assert with_key.exit_code == 1
    assert "is not signed by key" in with_key.stderr
    # Without the key, nothing tells the forged checkpoints from real ones: the threat model.
    assert without_key.exit_code == 0


def test_removed_checkpoints_fail_with_the_key(log: Path, public_key: str) -> None:
    checkpoint_path(log).unlink()

    result = invoke("verify", str(log), "--public-key", public_key)

    assert result.exit_code == 1
    assert "no signed checkpoint" in result.stderr


def test_records_added_after_the_last_checkpoint_are_not_sealed(log: Path, public_key: str) -> None:
    AuditTrail(log).append(event("mallory", 99))

    with_key = invoke("verify", str(log), "--public-key", public_key)
    without_key = invoke("verify", str(log))

    assert with_key.exit_code == 1
    assert f"1 records after record {RECORDS} are not sealed" in with_key.stderr
    assert without_key.exit_code == 0
    assert "1 records after the last checkpoint are not sealed" in without_key.stdout


def test_both_files_cut_back_together_are_caught_by_an_anchor_kept_elsewhere(
    log: Path, public_key: str
) -> None:
    anchor = hashlib.sha256(lines_of(log)[-1].rstrip(b"\n")).hexdigest()
    earlier = hashlib.sha256(lines_of(log)[5].rstrip(b"\n")).hexdigest()
    found = invoke("verify", str(log), "--public-key", public_key, "--expect-head", earlier)
    log.write_bytes(b"".join(lines_of(log)[:-3]))
    sidecar = checkpoint_path(log)
    sidecar.write_bytes(b"".join(lines_of(sidecar)[:-3]))

    cut = invoke("verify", str(log), "--public-key", public_key)
    anchored = invoke("verify", str(log), "--public-key", public_key, "--expect-head", anchor)

    assert found.exit_code == 0 and "anchor head found at record 6" in found.stdout
    # Cut consistently, the files prove only what they still hold: the threat model.
    assert cut.exit_code == 0
    assert anchored.exit_code == 1
    assert f"the anchor head {anchor} is not in the chain" in anchored.stderr


def test_verify_on_an_empty_or_missing_log_is_an_error_exit_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.touch()

    for path, problem in ((empty, "is empty"), (tmp_path / "missing.jsonl", "no audit log")):
        result = invoke("verify", str(path))
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert result.stderr.startswith("offboard: error: ") and problem in result.stderr
        assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("how", ["emptied", "deleted"])
def test_a_log_emptied_or_deleted_beside_its_checkpoints_is_reported_tampered(
    log: Path, how: str
) -> None:
    if how == "emptied":
        log.write_bytes(b"")
    else:
        log.unlink()

    result = invoke("verify", str(log))

    assert result.exit_code == 1, result.output
    assert len(result.stderr.splitlines()) == 1
    assert f"cut-off tail: checkpoints seal {RECORDS} records" in result.stderr


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--public-key", "not-a-key"], "--public-key: "),
        (["--public-key", base64.b64encode(b"short").decode()], "--public-key: "),
        (["--expect-head", "abc"], "--expect-head: not a SHA-256 hash"),
    ],
)
def test_bad_verify_options_are_one_line_exit_2(log: Path, args: list[str], problem: str) -> None:
    result = invoke("verify", str(log), *args)

    assert result.exit_code == 2
    assert result.stderr.startswith(f"offboard: error: {problem}")
    assert len(result.stderr.splitlines()) == 1


def test_public_key_command_prints_the_key_that_verifies_the_engines_checkpoints(
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "custom" / "key.pem"
    with engine_settings(home=str(tmp_path / "home"), audit_signing_key_file=str(key_file)):
        first = invoke("public-key")
        second = invoke("public-key")
        from audit.trail import default_trail

        trail = default_trail()
        trail.append(event("dave", 1))
        sealed = verify_sealed(trail.path, parse_public_key(first.stdout))

    assert first.exit_code == 0 and first.stdout == second.stdout
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert sealed.ok and sealed.sealed_seq == 1
    # A file holding the key works as well as the key itself.
    (tmp_path / "pub").write_text(first.stdout)
    assert parse_public_key(str(tmp_path / "pub")) is not None


def seal_records(path: str, key_file: str, writer: str, count: int) -> None:
    trail = AuditTrail(path, signer=CheckpointSigner(Path(key_file)))
    for i in range(count):
        trail.append(event(writer, i))


def test_concurrent_sealing_writers_leave_a_log_that_verifies_with_the_key(
    tmp_path: Path, key_file: Path
) -> None:
    """Processes and threads at once, the signing key created by whichever comes first."""
    path = tmp_path / "audit.jsonl"
    context = multiprocessing.get_context("spawn")
    args = [(str(path), str(key_file), f"p{n}", 10) for n in range(4)]
    processes = [context.Process(target=seal_records, args=a) for a in args]
    threads = [
        threading.Thread(target=seal_records, args=(str(path), str(key_file), f"t{n}", 10))
        for n in range(4)
    ]
    for worker in (*processes, *threads):
        worker.start()
    for worker in (*processes, *threads):
        worker.join(timeout=120)
    assert all(process.exitcode == 0 for process in processes)

    report = verify_sealed(path, load_signing_key(key_file).public_key())

    assert report.ok, report.problem
    assert report.records == report.checkpoints == report.sealed_seq == 80


# --- refusing to extend a torn, foreign or cut log -------------------------------------------


def test_a_torn_last_line_is_refused_naming_the_file_and_line(log: Path, key_file: Path) -> None:
    log.write_bytes(log.read_bytes()[:-20])
    trail = AuditTrail(log, signer=CheckpointSigner(key_file))

    with pytest.raises(AuditTrailError) as refused:
        trail.check_appendable()

    message = str(refused.value)
    assert message.startswith(f"audit log {log} line {RECORDS}: incomplete line")
    assert "offboard audit verify" in message and "\n" not in message


def test_a_file_that_is_not_an_audit_log_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "audit.jsonl"
    foreign.write_text('{"level": "info", "msg": "some other log"}\n')

    with pytest.raises(AuditTrailError, match=rf"audit log {foreign} line 1: not an audit record"):
        AuditTrail(foreign).check_appendable()


def test_a_log_cut_behind_its_checkpoints_is_refused(log: Path, key_file: Path) -> None:
    log.write_bytes(b"".join(lines_of(log)[:-2]))

    with pytest.raises(AuditTrailError, match="the end of the log was cut off"):
        AuditTrail(log, signer=CheckpointSigner(key_file)).check_appendable()


def test_a_sound_log_and_a_missing_one_may_be_extended(log: Path, tmp_path: Path) -> None:
    AuditTrail(log).check_appendable()
    AuditTrail(tmp_path / "new" / "audit.jsonl").check_appendable()
    assert len(list(read_records(log))) == RECORDS


def test_a_checkpoint_torn_by_a_crash_is_replaced_by_the_next_one(
    log: Path, key_file: Path, public_key: str
) -> None:
    sidecar = checkpoint_path(log)
    sidecar.write_bytes(sidecar.read_bytes()[:-30])
    trail = AuditTrail(log, signer=CheckpointSigner(key_file))

    trail.check_appendable()
    trail.append(event("erin", 1))

    assert verify_sealed(log, parse_public_key(public_key)).ok
    assert b"".join(lines_of(sidecar)).count(b"\n") == RECORDS


def test_a_failed_seal_leaves_log_and_checkpoints_as_they_were(
    log: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (log.read_bytes(), checkpoint_path(log).read_bytes())

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(CheckpointSigner, "seal", full)
    with pytest.raises(OSError):
        AuditTrail(log, signer=CheckpointSigner(key_file)).append(event("frank", 1))

    assert (log.read_bytes(), checkpoint_path(log).read_bytes()) == before
