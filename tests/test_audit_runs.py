"""The signed trail as runs against the sandbox leave it: verified with the engine's public key,
tampering reported, the head published to the run's artifact and beside S3 snapshots, and a torn
or foreign log refused before any IAM call."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.checkpoint import checkpoint_path
from audit.records import GENESIS_HASH, canonical_json, content_hash, sha256_hex
from audit.sealed import verify_sealed
from audit.signing import load_signing_key, parse_public_key
from audit.trail import default_trail, read_records
from cli.errors import AUDIT_TRAIL_EXIT
from cli.main import app
from flows.offboard_user import run_offboarding
from sandbox.fixtures import create_loaded_user
from tests.helpers import engine_settings, iam_mutations

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")
runner = CliRunner()


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def public_key() -> str:
    result = invoke("audit", "public-key")
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


@pytest.fixture
def own_log(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The engine writes this test's own log (the key stays the engine's)."""
    log = tmp_path / "audit.jsonl"
    with engine_settings(audit_log=str(log)):
        yield log


def test_runs_leave_a_log_that_verifies_with_the_public_key_and_tampering_is_reported(
    sandbox, iam, user_name, own_log, tmp_path
):
    """Two offboardings; the untouched log verifies; a cut-off tail and a history with one
    user's records dropped and the chain recomputed are both reported, with the key."""
    names = [f"{user_name[:55]}-a", f"{user_name[:55]}-b"]
    for name in names:
        create_loaded_user(iam, name, groups=1, inline=1, managed=1, service_credentials=1)
        assert run_offboarding(user_name=name).outcome == "deleted"
    key = public_key()

    intact = invoke("audit", "verify", str(own_log), "--public-key", key)

    assert intact.exit_code == 0, intact.output
    records = len(lines_of(own_log))
    assert f"sealed up to record {records} at " in intact.stdout
    assert "signature verified" in intact.stdout

    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"".join(lines_of(own_log)[:-3]))
    checkpoint_path(cut).write_bytes(checkpoint_path(own_log).read_bytes())
    cut_off = invoke("audit", "verify", str(cut), "--public-key", key)
    assert cut_off.exit_code == 1
    assert "cut-off tail" in cut_off.stderr and "3 missing from the end" in cut_off.stderr

    forged = tmp_path / "forged.jsonl"
    kept = [json.loads(line) for line in lines_of(own_log)]
    kept = [r for r in kept if r["target"]["user_name"] != names[0]]
    out, prev = [], GENESIS_HASH
    for seq, data in enumerate(kept, start=1):
        data |= {"seq": seq, "prev_hash": prev}
        data["hash"] = content_hash(data)
        line = canonical_json(data).encode("ascii")
        out.append(line + b"\n")
        prev = sha256_hex(line)
    forged.write_bytes(b"".join(out))
    checkpoint_path(forged).write_bytes(checkpoint_path(own_log).read_bytes())
    rewritten = invoke("audit", "verify", str(forged), "--public-key", key)
    assert rewritten.exit_code == 1
    assert "forged chain: record 1 does not match its signed checkpoint" in rewritten.stderr


def test_eight_concurrent_flows_leave_every_record_sealed(sandbox, iam, user_name, own_log):
    names = [f"{user_name[:50]}-{i}" for i in range(8)]
    for name in names:
        create_loaded_user(
            iam, name, groups=1, inline=1, managed=1, access_keys=1, service_credentials=1
        )
    with ThreadPoolExecutor(max_workers=8) as pool:
        reports = list(pool.map(lambda n: run_offboarding(user_name=n), names))
    assert [r.outcome for r in reports] == ["deleted"] * 8

    report = verify_sealed(own_log, load_signing_key().public_key())

    assert report.ok, report.problem
    # Each run writes the same records (steps, their write-ahead intents, the run's own).
    per_run = Counter(record.run_id for record in read_records(own_log))
    assert sorted(per_run.values()) == [per_run[reports[0].run_id]] * 8
    assert report.records == report.sealed_seq == report.checkpoints == sum(per_run.values())


def test_the_head_after_a_run_is_in_its_artifact_and_beside_the_s3_snapshots(
    sandbox, iam, user_name, own_log
):
    from prefect.artifacts import Artifact

    from flows.report_artifact import artifact_key

    s3 = sandbox.client("s3")
    s3.create_bucket(Bucket="offboard-audit-anchors")
    create_loaded_user(iam, user_name)
    with engine_settings(snapshot_store="s3://offboard-audit-anchors/prod"):
        report = run_offboarding(user_name=user_name)
    assert report.outcome == "deleted"

    head = default_trail().latest_checkpoint()
    assert head is not None and head.seq == len(lines_of(own_log))
    artifact = Artifact.get(artifact_key(user_name))
    assert artifact is not None and f"sha256 `{head.head}`" in str(artifact.data)
    key = f"prod/audit-heads/{head.seq:012d}-{report.run_id}.json"
    anchored = json.loads(s3.get_object(Bucket="offboard-audit-anchors", Key=key)["Body"].read())
    assert anchored == head.model_dump(mode="json")
    assert head.signature_valid(parse_public_key(public_key()))
    check = invoke("audit", "verify", str(own_log), "--expect-head", anchored["head"])
    assert check.exit_code == 0 and f"anchor head found at record {head.seq}" in check.stdout


TORN = b'{"action":"iam:DeleteAccessKey","seq":1,"ti'
FOREIGN = b'{"level":"info","event":"not an audit record"}\n'


@pytest.mark.parametrize(
    ("content", "problem"),
    [(TORN, "line 1: incomplete line"), (FOREIGN, "line 1: not an audit record")],
    ids=["torn", "foreign"],
)
@pytest.mark.parametrize("command", ["run", "deactivate"])
def test_a_torn_or_foreign_log_is_refused_before_any_iam_call_with_exit_4(
    sandbox, iam, user_name, own_log, content, problem, command
):
    iam.create_user(UserName=user_name)
    key_id = iam.create_access_key(UserName=user_name)["AccessKey"]["AccessKeyId"]
    own_log.write_bytes(content)
    mark = sandbox.requests.mark()

    args = [command, user_name, *(["--yes"] if command == "run" else [])]
    result = invoke(*args)

    assert result.exit_code == AUDIT_TRAIL_EXIT == 4
    assert result.stderr.startswith(f"offboard: error: audit log {own_log} {problem}")
    assert len(result.stderr.splitlines()) == 1
    assert f"check it with 'offboard audit verify {own_log}'" in result.stderr
    assert sandbox.requests.since(mark) == []
    assert iam.get_user(UserName=user_name)["User"]["UserName"] == user_name
    keys = iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(key_id, "Active")]
    assert own_log.read_bytes() == content


def test_the_flow_itself_refuses_a_torn_log_before_any_mutating_call(
    sandbox, iam, user_name, own_log
):
    """Started without the CLI (a deployment, the webhook), the run stops at its first record."""
    create_loaded_user(iam, user_name)
    own_log.write_bytes(TORN)
    mark = sandbox.requests.mark()

    report = run_offboarding(user_name=user_name)

    assert report.outcome == "failed" and report.failure is not None
    assert report.failure.error_code == "AuditTrailUnwritable"
    assert "offboard audit verify" in (report.failure.message or "")
    assert iam_mutations(sandbox.requests.since(mark)) == []
    assert iam.get_user(UserName=user_name)["User"]["UserName"] == user_name
    assert own_log.read_bytes() == TORN


def test_a_dry_run_batch_is_not_refused_for_a_torn_log(sandbox, user_name, own_log):
    """Dry runs write nothing, so the refusal applies to commands that change IAM only."""
    own_log.write_bytes(TORN)

    result = invoke("batch", "--tag", f"audit-test={user_name}", "--dry-run")

    assert result.exit_code == 0, result.output
    assert own_log.read_bytes() == TORN
